"""What identity needs of the persistence service, checked against it at mount (a copy of the
members of ``features/persistence/api.py`` used here; features never import each other)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["PersistenceAPI"]

Params = Sequence[Any] | Mapping[str, Any]


class PersistenceAPI(Protocol):
    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]: ...

    async def execute(self, sql: str, params: Params = ()) -> int: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None: ...
