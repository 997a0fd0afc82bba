"""The chat feature's table (migrations owner ``chat``), in the profile database.

    chat_unsent   messages accepted from the user but not yet sealed: written while offline
                  to someone without a session yet (``queued``), or refused by the secure core
                  (``failed``, with its reason: a changed key, no prekeys on the relay). id ->
                  peer, body, reply_to, created_at (ms), status, reason

Once messaging stores a message it is messaging's (``messaging_messages``) and its row here
goes. A kernel that dies between the two sends it once all the same: the retry finds the id
already sent (messaging refuses a repeated id) and only drops the row.
"""

from __future__ import annotations

__all__ = ["CHAT_TABLES", "MIGRATIONS"]

CHAT_TABLES = ("chat_unsent",)

_V1 = """
CREATE TABLE chat_unsent (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    body TEXT NOT NULL,
    reply_to TEXT,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'failed')),
    reason TEXT
);
CREATE INDEX chat_unsent_peer ON chat_unsent (peer, created_at);
"""

MIGRATIONS = ({"owner": "chat", "version": 1, "sql": _V1, "description": "messages not yet sealed"},)
