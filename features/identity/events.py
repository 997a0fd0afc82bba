"""The identity feature's communication contract: what it says and what it hears.

Payloads carry user ids, display names and fingerprints (hex SHA-256 of public keys): nothing
secret travels on the bus. The private keys never leave the service (and the database).

Emitted
    IDENTITY_CREATED    a new identity was made and stored in the open profile (HIGH)
    IDENTITY_LOADED     the profile's identity was loaded from its database (HIGH)
    IDENTITY_FORGOTTEN  the private keys left memory (log-out, lock) (HIGH)
    IDENTITY_ERROR      creating or loading failed; nothing was overwritten (HIGH)
    CONTACT_PINNED      a contact's invite was added and its key pinned (trust on first use) (MEDIUM)
    CONTACT_VERIFIED    the user compared safety numbers and marked the contact verified (MEDIUM)
    KEY_CHANGED         other keys were presented for a known contact; sending to them is blocked
                        until the user dismisses the alert (HIGH)
    KEY_CHANGE_DISMISSED  the user dismissed that alert: the pinned key stays, sending unblocked (HIGH)
    KEY_ACCEPTED        a contact's pending keys were pinned, which only keys that derive the
                        contact's user id can be (in practice never: see ``accept_key``) (HIGH)

A user id is derived from its keys, so other keys for a known contact are never theirs: a new
key means a new user id (a new contact, from a new invite); signed key-rotation records are not
implemented.

Heard
    PERSISTENCE_LOCKED     the profile database closed: the private keys are forgotten
    SIGNALING_URL_CHANGED  carries the app's one ``allow_insecure_remote`` switch (settings), which
                           invites follow

Commands the identity actor accepts (``fire(actor, ...)`` from UI code)
    VERIFY {user_id, fingerprint}   mark a contact verified (through the service)
    DISMISS {user_id}               dismiss the alert about other keys for a contact (through the service)
    FORGET                          drop the private keys from memory
"""

from __future__ import annotations

from typing import Literal

from chatkernel import EventSpec

__all__ = ["CONTACT_PINNED", "CONTACT_VERIFIED", "EMITTED", "IDENTITY_CREATED", "IDENTITY_ERROR",
           "IDENTITY_FORGOTTEN", "IDENTITY_LOADED", "KEY_ACCEPTED", "KEY_CHANGED", "KEY_CHANGE_DISMISSED",
           "SUBSCRIBED"]

IDENTITY_CREATED = EventSpec("IDENTITY_CREATED", "HIGH", "a new identity was made and stored in the open profile",
                             {"user_id": str, "display_name": str})
IDENTITY_LOADED = EventSpec("IDENTITY_LOADED", "HIGH", "the profile's identity was loaded from its database",
                            {"user_id": str})
IDENTITY_FORGOTTEN = EventSpec("IDENTITY_FORGOTTEN", "HIGH", "the identity's private keys left memory",
                               {"user_id": str | None})
IDENTITY_ERROR = EventSpec("IDENTITY_ERROR", "HIGH", "creating or loading the identity failed; nothing was overwritten",
                           {"operation": Literal["create", "load"], "kind": str, "reason": str})
CONTACT_PINNED = EventSpec("CONTACT_PINNED", "MEDIUM", "a contact's invite was added and its key pinned",
                           {"user_id": str})
CONTACT_VERIFIED = EventSpec("CONTACT_VERIFIED", "MEDIUM", "the user compared safety numbers with a contact",
                             {"user_id": str, "fingerprint": str})
KEY_CHANGED = EventSpec(
    "KEY_CHANGED", "HIGH", "other keys were presented for a contact; sending to them is blocked until the alert is "
    "dismissed", {"user_id": str, "old_fingerprint": str, "new_fingerprint": str})
KEY_ACCEPTED = EventSpec("KEY_ACCEPTED", "HIGH", "a contact's pending keys, which derive their user id, were pinned",
                         {"user_id": str, "fingerprint": str})
KEY_CHANGE_DISMISSED = EventSpec(
    "KEY_CHANGE_DISMISSED", "HIGH", "the user dismissed the alert about other keys for a contact; the pinned key "
    "stays and sending is unblocked", {"user_id": str, "fingerprint": str, "dismissed_fingerprint": str})

EMITTED = (IDENTITY_CREATED, IDENTITY_LOADED, IDENTITY_FORGOTTEN, IDENTITY_ERROR, CONTACT_PINNED, CONTACT_VERIFIED,
           KEY_CHANGED, KEY_ACCEPTED, KEY_CHANGE_DISMISSED)
SUBSCRIBED: tuple[str, ...] = ("PERSISTENCE_LOCKED", "SIGNALING_URL_CHANGED")
