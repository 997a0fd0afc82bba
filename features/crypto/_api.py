"""What crypto needs of its dependencies, copied from their ``api.py`` (features never import
each other); the kernel checks these against the real services at mount."""

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

    async def run(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...


class PersistenceAPI(Protocol):
    state: str

    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]: ...

    def transaction(self) -> AbstractAsyncContextManager[TransactionAPI]: ...

    async def fetchall(self, sql: str, params: _Params = ()) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, sql: str, params: _Params = ()) -> tuple[Any, ...] | None: ...


class IdentityAPI(Protocol):
    @property
    def user_id(self) -> str | None: ...

    def public_keys(self) -> tuple[bytes, bytes]: ...

    def private_keys(self) -> tuple[bytes, bytes]: ...

    async def observe_key(self, user_id: str, signing_pub: bytes, exchange_pub: bytes) -> str: ...

    def sending_allowed(self, user_id: str) -> bool: ...
