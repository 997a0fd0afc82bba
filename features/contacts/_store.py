"""The contacts feature's table (migrations owner ``contacts``), in the profile database.

    contacts_entries   user_id -> name (the user's own name for them), added_at (ms), blocked
                       (0/1), last_seen (ms of the last message from them, or NULL)

Keys and trust are not here: identity pins them (``identity_contacts``), and a removed contact
keeps its pin there, so a later invite with other keys for the same user id still alerts.
"""

from __future__ import annotations

__all__ = ["CONTACTS_TABLES", "MIGRATIONS"]

CONTACTS_TABLES = ("contacts_entries",)

_V1 = """
CREATE TABLE contacts_entries (
    user_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    last_seen INTEGER
);
"""

MIGRATIONS = ({"owner": "contacts", "version": 1, "sql": _V1, "description": "the contact list"},)
