"""What auth needs of the persistence and identity services: copies of the members it uses from
``features/persistence/api.py`` and ``features/identity/api.py``, checked against the real
services at mount (features never import each other).

Where profiles live comes from persistence's ``path`` (``<profiles_dir>/<profile>/chat.db``), so
auth keeps its own files in the same profile directory, beside the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

__all__ = ["IdentityAPI", "PersistenceAPI"]


class PersistenceAPI(Protocol):
    state: str
    profile: str | None

    @property
    def path(self) -> Path: ...

    async def open(self, key: bytes, profile: str | None = None) -> bool: ...

    async def close(self) -> None: ...

    async def rekey(self, new_key: bytes) -> None: ...


class IdentityAPI(Protocol):
    @property
    def user_id(self) -> str | None: ...

    async def create(self, display_name: str) -> str: ...

    async def load(self) -> str | None: ...

    def forget(self) -> None: ...
