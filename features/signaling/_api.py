"""What signaling needs of the identity service, checked against it at mount (a copy of the
members of ``features/identity/api.py`` used here; features never import each other).

Signaling never holds a private key: the ``/connect`` proof is signed through ``sign``."""

from __future__ import annotations

from typing import Protocol

__all__ = ["IdentityAPI"]


class IdentityAPI(Protocol):
    @property
    def user_id(self) -> str | None:
        """The loaded identity's user id, or None while no identity is loaded."""

    def public_keys(self) -> tuple[bytes, bytes]:
        """(Ed25519 public key, X25519 public key), 32 raw bytes each."""

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature with the identity's signing key."""
