"""What notifications needs of its dependencies, copied from their services (features never
import each other); the kernel checks these against the real services at mount."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["ChatAPI", "PersistenceAPI"]

_Params = Sequence[Any] | Mapping[str, Any]


class PersistenceAPI(Protocol):
    state: str

    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]: ...

    async def execute(self, sql: str, params: _Params = ()) -> int: ...

    async def fetchall(self, sql: str, params: _Params = ()) -> list[tuple[Any, ...]]: ...


class ChatAPI(Protocol):
    def is_open(self, conversation: str) -> bool: ...  # its window is showing it

    async def preview(self, conversation: str, message_id: str) -> dict[str, str]: ...
    # {"title": conversation name, "author": display name, "text": plain text, at most 140 chars};
    # raises a ChatKernelError subclass if the message is unknown

    def unread_counts(self) -> dict[str, int]: ...  # conversation -> unread
