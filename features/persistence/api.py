"""What the persistence service offers, as the Protocol a dependent names in ``requires``.

Features never import each other, so a dependent copies the members it uses into its own
``_api.py`` (the kernel checks them against the real service at mount)::

    requires={"persistence": PersistenceAPI}
    db = ctx.dependency("persistence", PersistenceAPI)
    db.add_migrations([{"owner": "chat", "version": 1, "sql": "CREATE TABLE message (...)"}])
    async with db.transaction() as tx:
        await tx.execute("UPDATE session SET state = ? WHERE peer = ?", (state, peer))
        await tx.execute("INSERT INTO message (id, body) VALUES (?, ?)", (message_id, body))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

__all__ = ["PersistenceAPI", "TransactionAPI"]

Params = Sequence[Any] | Mapping[str, Any]


class TransactionAPI(Protocol):
    async def execute(self, sql: str, params: Params = ()) -> int: ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None: ...

    async def run(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...

    def write(self, sql: str, params: Params = ()) -> None: ...


class PersistenceAPI(Protocol):
    state: str
    profile: str | None

    @property
    def path(self) -> Path: ...

    async def open(self, key: bytes, profile: str | None = None) -> bool: ...

    async def close(self) -> None: ...

    async def rekey(self, new_key: bytes) -> None: ...

    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]: ...

    def transaction(self) -> AbstractAsyncContextManager[TransactionAPI]: ...

    async def run_in_transaction(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...

    async def execute(self, sql: str, params: Params = ()) -> int: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None: ...
