"""The local identity and its pinned contacts, kept in the profile's encrypted database.

The service owns the private keys: it creates them, stores them through persistence (one row;
the database is SQLCipher-encrypted as a whole), loads them at log-in and drops them at log-out.
Everyone else signs and exchanges through it. Contacts are pinned on first use and cached in
memory while the identity is loaded, so ``sending_allowed`` and ``safety_number`` need no I/O.
Lifecycle and trust changes are reported to ``listener`` (the feature's machine), which turns
them into events: the service never emits itself, and nothing it reports carries a secret.

Key changes: a user id is derived from its keys, so other keys for a known contact can never be
theirs; they are announced (``KEY_CHANGED``, sending blocked) so the user learns that something
tried to speak as this contact, and the user dismisses the alert, keeping the pin. A new key
means a new user id: a new contact, from a new invite (signed key-rotation records are not
implemented).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from chatkernel.relay.protocol import derive_user_id

from ._api import PersistenceAPI
from ._config import IdentityConfig
from ._contact import Contact
from ._invite import make_invite, parse_invite
from ._record import Identity, identity_fingerprint, validate_display_name
from ._safety import safety_number
from ._schema import CONTACTS, LOCAL, MIGRATIONS
from ._trust import ContactTrust
from .errors import (
    ForgedKeyError,
    IdentityExistsError,
    KeyFormatError,
    NoIdentityError,
    SelfContactError,
    UnknownContactError,
    UserIdMismatchError,
)

__all__ = ["IdentityService"]

Listener = Callable[[str, dict[str, Any]], None]
log = logging.getLogger("chatkernel.features.identity")
_COLUMNS = "user_id, public_record, trust, pending_keys, display_name, added_at"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _raw_key(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)) or len(bytes(value)) != 32:
        raise KeyFormatError(what, "must be 32 raw bytes")
    return bytes(value)


class IdentityService:
    """Implements ``features/identity/api.py``'s ``IdentityAPI`` (and a little more for the UI)."""

    def __init__(self, db: PersistenceAPI, config: IdentityConfig | None = None, *,
                 listener: Listener | None = None, clock: Callable[[], str] = _now):
        self.db = db
        self.config = config or IdentityConfig()
        self.allow_insecure_remote = bool(self.config.allow_insecure_remote)
        self.listener = listener
        self._clock = clock
        self._identity: Identity | None = None
        self._contacts: dict[str, Contact] = {}
        self._lock = asyncio.Lock()
        self._epoch = 0  # bumped by forget(): a load finishing after it is discarded
        db.add_migrations(MIGRATIONS)

    # ------------------------------------------------------------------ state
    @property
    def user_id(self) -> str | None:
        return self._identity.user_id if self._identity is not None else None

    @property
    def display_name(self) -> str | None:
        return self._identity.display_name if self._identity is not None else None

    @property
    def loaded(self) -> bool:
        return self._identity is not None

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def _require(self, operation: str) -> Identity:
        if self._identity is None:
            raise NoIdentityError(operation)
        return self._identity

    # ------------------------------------------------------------------ lifecycle
    async def create(self, display_name: str) -> str:
        """Make, store and load a new identity; refused if the profile has one (never overwritten)."""
        name = validate_display_name(display_name)
        async with self._lock:
            if self._identity is not None:
                raise IdentityExistsError(self._identity.user_id)
            await self.db.migrate()
            row = await self.db.fetchone(f"SELECT user_id FROM {LOCAL} WHERE id = 1")
            if row is not None:
                raise IdentityExistsError(str(row[0]))
            epoch = self._epoch
            self._notify("LOADING", operation="create")
            try:
                identity = Identity.generate(name)
                await self.db.execute(f"INSERT INTO {LOCAL} (id, user_id, private_key, created_at) VALUES (1, ?, ?, ?)",
                                      (identity.user_id, identity.private_bytes(), self._clock()))
            except Exception as exc:
                error: Exception = IdentityExistsError() if getattr(exc, "kind", None) == "constraint" else exc
                self._notify("FAILED", operation="create", kind=type(error).__name__, reason=str(error))
                if error is exc:
                    raise
                raise error from None
            self._adopt(identity, {}, epoch, created=True)
            return identity.user_id

    async def load(self) -> str | None:
        """Load the profile's identity and contacts; its user id, or None if the profile has none."""
        async with self._lock:
            if self._identity is not None:
                return self._identity.user_id
            epoch = self._epoch
            self._notify("LOADING", operation="load")
            try:
                await self.db.migrate()
                row = await self.db.fetchone(f"SELECT private_key FROM {LOCAL} WHERE id = 1")
                if row is None:
                    self._notify("MISSING")
                    return None
                identity = Identity.from_private_bytes(bytes(row[0]))
                contacts = {c.user_id: c for c in map(Contact.from_row,
                                                      await self.db.fetchall(f"SELECT {_COLUMNS} FROM {CONTACTS}"))}
            except Exception as exc:
                self._notify("FAILED", operation="load", kind=type(exc).__name__, reason=str(exc))
                raise
            self._adopt(identity, contacts, epoch, created=False)
            return identity.user_id

    def _adopt(self, identity: Identity, contacts: dict[str, Contact], epoch: int, *, created: bool) -> None:
        if epoch != self._epoch:  # forgotten (locked) while this was in flight
            raise NoIdentityError("finish loading: the identity was forgotten meanwhile (the profile was locked)")
        self._identity, self._contacts = identity, contacts
        log.info("identity %s %s (%d contacts)", identity.user_id, "created" if created else "loaded", len(contacts))
        self._notify("LOADED", user_id=identity.user_id, display_name=identity.display_name, created=created)

    def forget(self) -> None:
        """Drop the private keys (and the contact cache) from memory; the database keeps them."""
        user_id = self.user_id
        self._identity, self._contacts = None, {}
        self._epoch += 1
        if user_id is not None:
            log.info("identity %s forgotten: its private keys left memory", user_id)
        self._notify("FORGOTTEN", user_id=user_id)

    # ------------------------------------------------------------------ the keys, used in place
    def public_keys(self) -> tuple[bytes, bytes]:
        public = self._require("read the public keys").public
        return public.signing_key, public.exchange_key

    def public_record(self) -> dict[str, Any]:
        return self._require("read the public record").public.to_dict()

    @property
    def fingerprint(self) -> str | None:
        """Hex fingerprint of the loaded identity's public keys (what contacts pin)."""
        return self._identity.public.fingerprint.hex() if self._identity is not None else None

    def sign(self, message: bytes) -> bytes:
        return self._require("sign").sign(message)

    def exchange(self, peer_public_key: bytes) -> bytes:
        return self._require("exchange keys").exchange(_raw_key(peer_public_key, "peer public key"))

    def private_keys(self) -> tuple[bytes, bytes]:
        """(Ed25519 seed, X25519 private key): crypto's X3DH only."""
        secret = self._require("read the private keys").private_bytes()
        return secret[1:33], secret[33:65]

    def invite(self, relay_url: str, *, allow_insecure_remote: bool | None = None) -> str:
        insecure = self.allow_insecure_remote if allow_insecure_remote is None else allow_insecure_remote
        return make_invite(self._require("make an invite").public, relay_url,
                           allow_insecure_remote=insecure).to_string()

    # ------------------------------------------------------------------ contacts
    def contacts(self) -> list[dict[str, Any]]:
        """Every pinned contact's record, by user id."""
        return [self._contacts[k].to_dict() for k in sorted(self._contacts)]

    def contact(self, user_id: str) -> dict[str, Any]:
        return self._contact(user_id).to_dict()

    def _contact(self, user_id: str) -> Contact:
        self._require("look up a contact")
        contact = self._contacts.get(user_id)
        if contact is None:
            raise UnknownContactError(user_id)
        return contact

    async def _store(self, contact: Contact, *, new: bool = False) -> None:
        """Write the row, then the cache, unless the identity was forgotten while writing."""
        row, epoch = contact.to_row(), self._epoch
        if new:
            await self.db.execute(f"INSERT INTO {CONTACTS} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row)
        else:
            await self.db.execute(f"UPDATE {CONTACTS} SET public_record = ?, trust = ?, pending_keys = ?, "
                                  "display_name = ?, added_at = ? WHERE user_id = ?", (*row[1:], row[0]))
        if epoch != self._epoch:
            raise NoIdentityError("finish updating a contact: the identity was forgotten meanwhile (it is stored)")
        self._contacts[contact.user_id] = contact

    async def add_contact(self, invite: str, *, display_name: str | None = None,
                          allow_insecure_remote: bool | None = None) -> dict[str, Any]:
        """Parse and pin a contact's invite (trust on first use); the contact's record.

        The same invite again changes nothing; other keys for a known user id go through
        :meth:`observe_key` (``KEY_CHANGED``). Your own invite is refused."""
        insecure = self.allow_insecure_remote if allow_insecure_remote is None else allow_insecure_remote
        parsed = parse_invite(invite, allow_insecure_remote=insecure)
        name = validate_display_name(display_name) if display_name is not None else None
        me = self._require("add a contact")
        if parsed.user_id == me.user_id or hmac.compare_digest(parsed.fingerprint, me.public.fingerprint):
            raise SelfContactError(me.user_id)
        keys = (parsed.signing_key, parsed.exchange_key)
        async with self._lock:
            known = self._contacts.get(parsed.user_id)
            if known is None:
                return (await self._pin(parsed.user_id, keys, parsed.relay_url, name)).to_dict()
            contact = await self._observe(known, keys)
            if contact.trust.status != "changed" and (contact.relay_url is None
                                                       or (contact.display_name is None and name is not None)):
                # first seen in a key bundle: the invite fills in what the bundle did not say
                contact = replace(contact, relay_url=contact.relay_url or parsed.relay_url,
                                  display_name=contact.display_name or name)
                await self._store(contact)
            return contact.to_dict()

    async def _pin(self, user_id: str, keys: tuple[bytes, bytes], relay_url: str | None,
                   name: str | None) -> Contact:
        contact = Contact(user_id, keys, relay_url, ContactTrust.first_seen(user_id, identity_fingerprint(*keys)),
                          self._clock(), name)
        await self._store(contact, new=True)
        log.info("contact %s pinned (fingerprint %s)", contact.user_id, contact.fingerprint)
        self._notify("PINNED", user_id=contact.user_id)
        return contact

    async def observe_key(self, user_id: str, signing_pub: bytes, exchange_pub: bytes) -> str:
        """``"pinned"``, ``"verified"`` or ``"changed"``; other keys are recorded and announced.

        Someone never seen is pinned on first use (crypto meets them in a key bundle or a first
        message), but only with keys that derive their user id: that id commits to the keys,
        so the relay cannot substitute others at first contact either. Other keys for a known
        contact are never pinned: the contact becomes ``changed`` (``KEY_CHANGED``, sending
        blocked) until the user dismisses the alert (:meth:`dismiss_key_change`)."""
        keys = (_raw_key(signing_pub, "signing key"), _raw_key(exchange_pub, "exchange key"))
        me = self._require("check a contact's key")
        if user_id == me.user_id:
            raise SelfContactError(me.user_id)
        async with self._lock:
            known = self._contacts.get(user_id)
            if known is not None:
                return (await self._observe(known, keys)).trust.status
            derived = derive_user_id(*keys)
            if derived != user_id:
                raise UserIdMismatchError(user_id, derived)
            return (await self._pin(user_id, keys, None, None)).trust.status

    async def _observe(self, contact: Contact, keys: tuple[bytes, bytes]) -> Contact:
        updated, change = contact.observed(keys)
        if change is not None:
            await self._store(updated)
            log.warning("contact %s presented another key (%s, pinned %s): sending blocked until the alert is "
                        "dismissed", contact.user_id, change["new_fingerprint"], change["old_fingerprint"])
            self._notify("CHANGED", **change)
        return updated

    async def accept_key(self, user_id: str, *, fingerprint: str | None = None) -> None:
        """Re-pin the contact's pending keys and unblock sending, only if they derive the user id;
        ``fingerprint``, if given, must be the pending one (the one the user was shown).

        Keys that derive another id cannot be this contact's and are refused
        (:class:`~features.identity.errors.ForgedKeyError`): nothing is re-pinned, the alert
        stays until :meth:`dismiss_key_change`. Every pin this service makes derives its id and
        two key pairs deriving one id would be a 160-bit hash collision, so in practice this
        always refuses: it can only succeed for a stored pin that does not derive its id (a row
        some other code wrote), which the deriving keys then replace."""
        async with self._lock:
            contact = self._contact(user_id)
            try:
                contact = contact.accepted(fingerprint)
            except ForgedKeyError:
                log.warning("contact %s: refused to pin keys %s, which do not derive the user id", user_id,
                            contact.trust.pending)
                raise
            await self._store(contact)
        log.info("contact %s: the new key %s was accepted", user_id, contact.fingerprint)
        self._notify("ACCEPTED", user_id=user_id, fingerprint=contact.fingerprint)

    async def dismiss_key_change(self, user_id: str, *, fingerprint: str | None = None) -> None:
        """Dismiss the alert about other keys presented for the contact: the pin stays, the
        pending keys are dropped and sending is unblocked (``KEY_CHANGE_DISMISSED``); those keys
        presented again alert again. ``fingerprint``, if given, must be the pending one."""
        async with self._lock:
            known = self._contact(user_id)
            contact = known.dismissed(fingerprint)
            await self._store(contact)
        assert known.trust.pending is not None
        log.info("contact %s: the alert about keys %s was dismissed; the pin %s stays", user_id,
                 known.trust.pending, contact.fingerprint)
        self._notify("DISMISSED", user_id=user_id, fingerprint=contact.fingerprint,
                     dismissed_fingerprint=known.trust.pending)

    async def mark_verified(self, user_id: str, *, fingerprint: str | None = None) -> None:
        """The user compared safety numbers for the pinned key (``fingerprint`` defaults to it)."""
        async with self._lock:
            contact = self._contact(user_id).verified(fingerprint)
            await self._store(contact)
        self._notify("VERIFIED", user_id=user_id, fingerprint=contact.fingerprint)

    def sending_allowed(self, user_id: str) -> bool:
        """False while an alert about other keys for the contact is not dismissed (and with no identity loaded).
        Someone never seen has no pin to contradict: crypto's first contact goes through
        :meth:`observe_key`, which pins them."""
        if self._identity is None:
            return False
        contact = self._contacts.get(user_id)
        return contact is None or contact.trust.sending_allowed

    def safety_number(self, user_id: str) -> str:
        """The 60 digits between this identity and the contact's pinned key (user ids as stable ids)."""
        me = self._require("compute a safety number").public
        contact = self._contact(user_id)
        return safety_number(me.user_id.encode("ascii"), me.identity_key,
                             contact.user_id.encode("ascii"), contact.identity_key)

    def contact_fingerprint(self, user_id: str) -> str:
        return self._contact(user_id).fingerprint

    def __repr__(self) -> str:
        return (f"IdentityService(user_id={self.user_id!r}, loaded={self.loaded}, contacts={len(self._contacts)}, "
                "private keys hidden)")

