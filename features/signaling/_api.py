"""What signaling needs of the identity and persistence services, checked against them at
mount (copies of the members of ``features/identity/api.py`` and ``features/persistence/api.py``
used here; features never import each other).

Signaling never holds a private key: the ``/connect`` proof is signed through ``sign``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

__all__ = ["IdentityAPI", "PersistenceAPI", "TransactionAPI"]

_Params = Sequence[Any] | Mapping[str, Any]


class TransactionAPI(Protocol):
    async def execute(self, sql: str, params: _Params = ()) -> int: ...

    async def executemany(self, sql: str, rows: Iterable[_Params]) -> int: ...

    async def fetchall(self, sql: str, params: _Params = ()) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, sql: str, params: _Params = ()) -> tuple[Any, ...] | None: ...

    def write(self, sql: str, params: _Params = ()) -> None: ...

    async def run(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...


class PersistenceAPI(Protocol):
    state: str
    profile: str | None

    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]: ...

    def transaction(self) -> AbstractAsyncContextManager[TransactionAPI]: ...

    async def execute(self, sql: str, params: _Params = ()) -> int: ...

    async def fetchall(self, sql: str, params: _Params = ()) -> list[tuple[Any, ...]]: ...


class IdentityAPI(Protocol):
    @property
    def user_id(self) -> str | None:
        """The loaded identity's user id, or None while no identity is loaded."""

    def public_keys(self) -> tuple[bytes, bytes]:
        """(Ed25519 public key, X25519 public key), 32 raw bytes each."""

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature with the identity's signing key."""
