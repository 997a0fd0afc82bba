"""What contacts needs of its dependencies, copied from their services (features never import
each other); the kernel checks these against the real services at mount."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["IdentityAPI", "PersistenceAPI"]

_Params = Sequence[Any] | Mapping[str, Any]


class PersistenceAPI(Protocol):
    state: str

    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]: ...

    async def execute(self, sql: str, params: _Params = ()) -> int: ...

    async def fetchall(self, sql: str, params: _Params = ()) -> list[tuple[Any, ...]]: ...


class IdentityAPI(Protocol):
    @property
    def user_id(self) -> str | None: ...

    async def add_contact(self, invite: str, *, display_name: str | None = None,
                          allow_insecure_remote: bool | None = None) -> dict[str, Any]: ...

    def contact(self, user_id: str) -> dict[str, Any]: ...

    def contacts(self) -> list[dict[str, Any]]: ...

    async def mark_verified(self, user_id: str, *, fingerprint: str | None = None) -> None: ...

    def safety_number(self, user_id: str) -> str: ...
