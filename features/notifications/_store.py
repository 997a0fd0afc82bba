"""The notifications feature's table (migrations owner ``notifications``), in the profile database.

    notifications_muted   conversation (a peer's user id, or ``group:<hex>``) -> muted_at (ms)

A row means muted; unmuting deletes it. Nothing else is stored: toasts and unread counts live
in memory (the chat stores the messages and the truth about what is unread).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "NOTIFICATIONS_TABLES"]

NOTIFICATIONS_TABLES = ("notifications_muted",)

_V1 = """
CREATE TABLE notifications_muted (
    conversation TEXT PRIMARY KEY,
    muted_at INTEGER NOT NULL
);
"""

MIGRATIONS = ({"owner": "notifications", "version": 1, "sql": _V1, "description": "muted conversations"},)
