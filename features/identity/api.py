"""What the identity service offers, as the Protocol a dependent names in ``requires``.

Features never import each other, so a dependent (auth, crypto, signaling) copies the members it
uses into its own ``_api.py``; the kernel checks them against the real service at mount. Only
plain values cross the seam (strings, bytes, dicts), never this feature's classes::

    requires={"identity": IdentityAPI}
    identity = ctx.dependency("identity", IdentityAPI)
    user_id = await identity.create("Alice")      # at sign-up, with the profile database open
    user_id = await identity.load()               # at log-in; None if the profile has none
    signature = identity.sign(message)            # Ed25519, with the identity key
    shared = identity.exchange(peer_x25519_pub)   # X25519 with the identity's exchange key
    identity.forget()                             # at log-out: private keys leave memory

The private keys live in the profile's encrypted database (persistence), never in a file, a log
line, an event payload or a ``repr``. ``private_keys()`` hands the raw private bytes to the one
caller that must run the protocol math itself (crypto's X3DH); everyone else signs and
exchanges through the service.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["IdentityAPI"]


class IdentityAPI(Protocol):
    @property
    def user_id(self) -> str | None:
        """The loaded identity's user id (``derive_user_id`` of its two public keys), or None."""

    @property
    def display_name(self) -> str | None: ...

    async def create(self, display_name: str) -> str:
        """Make, store (in the open profile database) and load a new identity; its user id.
        Refused if the profile already has one: an identity is never overwritten."""

    async def load(self) -> str | None:
        """Load the profile's identity from the open database; its user id, or None if none."""

    def forget(self) -> None:
        """Drop the loaded identity's private keys from memory (log-out, lock)."""

    def public_keys(self) -> tuple[bytes, bytes]:
        """(Ed25519 public key, X25519 public key), 32 raw bytes each."""

    def public_record(self) -> dict[str, Any]:
        """The public identity as plain JSON data (``IdentityPublic.to_dict()``)."""

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature with the identity's signing key."""

    def exchange(self, peer_public_key: bytes) -> bytes:
        """X25519 of the identity's exchange key with a peer's 32-byte public key."""

    def private_keys(self) -> tuple[bytes, bytes]:
        """(Ed25519 seed, X25519 private key), 32 raw bytes each, for crypto's X3DH only."""

    def invite(self, relay_url: str) -> str:
        """This identity's invite string for ``relay_url``."""

    async def add_contact(self, invite: str) -> dict[str, Any]:
        """Parse and pin a contact's invite (trust on first use); the contact's public record."""

    async def observe_key(self, user_id: str, signing_pub: bytes, exchange_pub: bytes) -> str:
        """Check a contact's keys against the pinned ones: ``"pinned"``, ``"verified"`` or
        ``"changed"`` (other keys: ``KEY_CHANGED`` is emitted and sending is blocked until the
        alert is dismissed; those keys are never pinned)."""

    async def accept_key(self, user_id: str) -> None:
        """Re-pin a contact's pending keys, only if they derive the user id; otherwise (in
        practice always: user ids are derived from their keys) refused with ``ForgedKeyError``."""

    async def dismiss_key_change(self, user_id: str) -> None:
        """Dismiss the alert about other keys for a contact: the pin stays, sending is unblocked."""

    def sending_allowed(self, user_id: str) -> bool: ...

    def safety_number(self, user_id: str) -> str:
        """The 60-digit safety number between this identity and a pinned contact."""
