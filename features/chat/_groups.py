"""The groups chat knows of: a copy of messaging's, kept in memory so that checking whether a
group can be written to, and naming it, stay synchronous.

A group conversation's id is ``"group:"`` and 32 lowercase hex digits (messaging's
``is_group``, copied: features never import each other). The copy is read whole at the log-in
(``messaging.groups()``) and one group again at each ``GROUP_CHANGED``; a group not in it yet
(created a moment ago, its event still on the bus) is read on first use.
"""

from __future__ import annotations

import re
from typing import Any

from ._api import MessagingAPI

__all__ = ["GroupDirectory", "is_group"]

_GROUP_ID = re.compile(r"group:[0-9a-f]{32}")


def is_group(value: object) -> bool:
    """Whether ``value`` is a group conversation id (not whether we know that group)."""
    return isinstance(value, str) and _GROUP_ID.fullmatch(value) is not None


class GroupDirectory:
    """``group id -> {"group", "name", "members", "admin", "state", "created_at", "updated_at"}``."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, Any]] = {}
        self._generation = 0  # a read that ends after clear() (a log-out) keeps nothing

    def __contains__(self, group: object) -> bool:
        return group in self._groups

    def get(self, group: str) -> dict[str, Any] | None:
        return self._groups.get(group)

    def all(self) -> list[dict[str, Any]]:
        return list(self._groups.values())

    def state(self, group: str) -> str | None:
        info = self._groups.get(group)
        return None if info is None else str(info.get("state"))

    def name(self, group: str) -> str | None:
        info = self._groups.get(group)
        return None if info is None else str(info.get("name") or "")

    async def load(self, messaging: MessagingAPI) -> None:
        generation = self._generation
        groups = {str(g["group"]): dict(g) for g in await messaging.groups()}
        if generation == self._generation:
            self._groups = groups

    async def refresh(self, messaging: MessagingAPI, group: str) -> dict[str, Any] | None:
        """Read one group again; None (and forgotten) when messaging does not know it."""
        generation = self._generation
        try:
            info = await messaging.group(group)
        except Exception as exc:
            if any(cls.__name__ == "UnknownGroupError" for cls in type(exc).__mro__):
                self._groups.pop(group, None)
                return None
            raise
        if generation != self._generation:
            return None
        self._groups[group] = dict(info)
        return self._groups[group]

    def clear(self) -> None:
        self._generation += 1
        self._groups.clear()

    def __repr__(self) -> str:
        active = sum(1 for g in self._groups.values() if g.get("state") == "active")
        return f"GroupDirectory(groups={len(self._groups)}, active={active})"
