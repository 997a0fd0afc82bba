"""The identity feature's tables in the profile database (persistence migrations, owner ``identity``).

The database is SQLCipher-encrypted as a whole, so the private bytes are stored as they are
(``Identity.private_bytes()``); ``CHECK (id = 1)`` keeps one local identity per profile and a
plain ``INSERT`` (never ``REPLACE``) means an existing one is never overwritten.
"""

from __future__ import annotations

__all__ = ["CONTACTS", "LOCAL", "MIGRATIONS"]

LOCAL = "identity_local"
CONTACTS = "identity_contacts"

_V1 = f"""
CREATE TABLE {LOCAL} (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user_id TEXT NOT NULL,
    private_key BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE {CONTACTS} (
    user_id TEXT PRIMARY KEY,
    public_record TEXT NOT NULL,
    trust TEXT NOT NULL,
    pending_keys TEXT,
    display_name TEXT,
    added_at TEXT NOT NULL
);
"""

MIGRATIONS: tuple[dict[str, object], ...] = (
    {"owner": "identity", "version": 1, "sql": _V1,
     "description": "the local identity's private keys (one row) and pinned contacts"},
)
