"""Remember-me: the derived database key (never the passphrase) in the OS keyring.

Stored under service ``"chatkernel"`` and the profile name, only in a real secure backend (Secret
Service / GNOME Keyring / KWallet, macOS Keychain, Windows Credential Manager). Refused, with a
reason, are: no backend at all (keyring's ``fail.Keyring``: the usual case on a headless machine),
the ``null`` backend (keyring switched off), every ``keyrings.alt`` backend (plain or
home-made-encrypted files), any backend keyring itself ranks below 1 ("not recommended"), and a
chain holding any of those. Nothing ever falls back to a file.

The entry is ``v1:<salt_id>:<base64url key>``: the record's salt tag travels with the key, so a key
remembered before a passphrase change or a parameter upgrade (a new salt) is recognised as stale,
deleted and reported as absent instead of being tried on the database. Keyring calls may block
(D-Bus, a keychain prompt): call these methods through ``asyncio.to_thread`` from the kernel's loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from chatkernel.relay.protocol import b64url_decode, b64url_encode

from ._kdf import KEY_LEN, DerivedKeys, KdfRecord
from .errors import RememberMeStorageError, RememberMeUnavailableError

__all__ = ["KeyringStatus", "RememberMe", "RememberedKey", "SERVICE", "keyring_status"]

SERVICE = "chatkernel"
_ENTRY_VERSION = "v1"
_HINT = ("the passphrase is asked at every login; for remember-me run a desktop session with an "
         "unlocked Secret Service keyring (GNOME Keyring, KWallet), macOS Keychain or Windows Credential Manager")


def _name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class KeyringStatus:
    """Whether remember-me can be offered, and if not, why (``reason``) and what to do (``hint``)."""

    available: bool
    backend: str
    reason: str | None = None
    hint: str | None = None


def _refusal(backend: KeyringBackend) -> str | None:
    if isinstance(backend, fail.Keyring):
        return "no OS keyring"
    if isinstance(backend, null.Keyring):
        return "the OS keyring is switched off (keyring's null backend)"
    if type(backend).__module__.split(".")[0] == "keyrings":
        return f"{_name(backend)} keeps secrets in a file, not in an OS keyring"
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return "no OS keyring"
        for inner in chained:
            reason = _refusal(inner)
            if reason is not None:
                return f"the keyring chain holds {_name(inner)}: {reason}"
        return None
    try:
        priority = float(backend.priority)
    except Exception:  # noqa: BLE001 - a backend that cannot rank itself is not usable
        return f"{_name(backend)} cannot say whether it is usable"
    if priority < 1:
        return f"{_name(backend)} ranks itself {priority:g} (< 1: keyring does not recommend it)"
    return None


def keyring_status(backend: KeyringBackend | None = None) -> KeyringStatus:
    """Whether ``backend`` (default: keyring's current one) is a secure OS keyring."""
    backend = keyring.get_keyring() if backend is None else backend
    reason = _refusal(backend)
    return KeyringStatus(reason is None, _name(backend), reason, None if reason is None else _HINT)


class RememberedKey:
    """A database key read back from the keyring; ``repr`` hides it."""

    __slots__ = ("_db_key", "salt_id")

    def __init__(self, db_key: bytes, salt_id: str) -> None:
        self._db_key = bytes(db_key)
        self.salt_id = salt_id

    @property
    def db_key(self) -> bytes:
        return self._db_key

    def __repr__(self) -> str:
        return f"RememberedKey(salt_id={self.salt_id!r}, db_key=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("RememberedKey holds a database key and is not picklable")


class RememberMe:
    """Store, load and forget a profile's key in the OS keyring; ``backend`` None means keyring's
    current backend, looked up at each call (so ``keyring.set_keyring`` takes effect)."""

    def __init__(self, backend: KeyringBackend | None = None, *, service: str = SERVICE) -> None:
        self._backend = backend
        self.service = service

    def __repr__(self) -> str:
        return f"RememberMe(service={self.service!r}, backend={self.status().backend!r})"

    def status(self) -> KeyringStatus:
        return keyring_status(self._backend)

    def _secure(self, profile: str) -> KeyringBackend:
        backend = keyring.get_keyring() if self._backend is None else self._backend
        reason = _refusal(backend)
        if reason is not None:
            raise RememberMeUnavailableError(reason, backend=_name(backend), profile=profile)
        return backend

    def store(self, profile: str, keys: DerivedKeys, record: KdfRecord) -> None:
        """Remember ``keys.db_key`` for ``profile``, tagged with ``record``'s salt."""
        backend = self._secure(profile)
        entry = f"{_ENTRY_VERSION}:{record.salt_id}:{b64url_encode(keys.db_key)}"
        try:
            backend.set_password(self.service, profile, entry)
        except keyring.errors.KeyringError as exc:
            raise RememberMeStorageError("store", _describe(exc), profile=profile) from None

    def load(self, profile: str, record: KdfRecord) -> RememberedKey | None:
        """The remembered key if there is one for ``record``; a stale or unreadable entry is forgotten."""
        backend = self._secure(profile)
        try:
            entry = backend.get_password(self.service, profile)
        except keyring.errors.KeyringError as exc:
            raise RememberMeStorageError("read", _describe(exc), profile=profile) from None
        if entry is None:
            return None
        remembered = _parse(entry)
        if remembered is None or remembered.salt_id != record.salt_id:
            self.forget(profile)
            return None
        return remembered

    def forget(self, profile: str) -> bool:
        """Delete the profile's entry; False when there was none."""
        backend = self._secure(profile)
        try:
            if backend.get_password(self.service, profile) is None:
                return False
            backend.delete_password(self.service, profile)
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.KeyringError as exc:
            raise RememberMeStorageError("delete", _describe(exc), profile=profile) from None
        return True


def _parse(entry: str) -> RememberedKey | None:
    parts = entry.split(":")
    if len(parts) != 3 or parts[0] != _ENTRY_VERSION:
        return None
    try:
        key = b64url_decode(parts[2])
    except ValueError:
        return None
    return RememberedKey(key, parts[1]) if len(key) == KEY_LEN else None


def _describe(exc: BaseException) -> str:
    """The keyring's own words, never the entry (keyring errors do not carry it)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
