"""What signaling keeps in the profile database (migrations owner ``signaling``), so that a
kernel that dies loses no message and shows none twice.

    signaling_state    name -> value: ``cursor`` (the relay id last stored, and so the next
                       poll's ``since``) with ``cursor_url`` (the relay it belongs to)
    signaling_seen     relay ids already delivered (the newest ``seen_history``, by ``seq``):
                       a redelivery after a crash is recognised and not shown again
    signaling_inbox    what the relay delivered to a consumer that stores messages itself
                       (``retain_until_acknowledged``), until that consumer's own transaction
                       acknowledges it; whatever is left is delivered again at the next start
    signaling_outbox   sends not yet accepted by the relay, in order (``seq``), with their
                       idempotent ids: after a restart they are sent again and the relay's
                       dedup makes the resend harmless

A poll batch is written in one transaction (inbox rows, seen ids, cursor) before any event
says it arrived, and the cursor is acknowledged to the relay only by the next poll, so a crash
at any point either leaves the batch on the relay or in this database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ._api import TransactionAPI

__all__ = ["MIGRATIONS", "SIGNALING_TABLES", "decode_payload", "encode_payload", "save_batch"]

SIGNALING_TABLES = ("signaling_state", "signaling_seen", "signaling_inbox", "signaling_outbox")

_V1 = """
CREATE TABLE signaling_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE signaling_seen (relay_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX signaling_seen_seq ON signaling_seen (seq);
CREATE TABLE signaling_inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    relay_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    ts INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE signaling_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"""

MIGRATIONS = ({"owner": "signaling", "version": 1, "sql": _V1,
               "description": "cursor, seen relay ids, inbox awaiting acknowledgement, outbox"},)


def encode_payload(payload: Any) -> str:
    """Payloads are JSON on the wire; they are kept exactly as sent (compact, key order kept)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_payload(text: str) -> Any:
    return json.loads(text)


async def save_batch(tx: TransactionAPI, items: Iterable[dict[str, Any]], *, cursor: str, url: str,
                     retain: bool, seen_history: int) -> None:
    """One poll batch (the new items only): inbox rows when retaining, seen ids, the cursor."""
    rows = list(items)
    if rows:
        row = await tx.fetchone("SELECT coalesce(max(seq), 0) FROM signaling_seen")
        first = int(row[0]) + 1 if row else 1
        await tx.executemany("INSERT OR IGNORE INTO signaling_seen (relay_id, seq) VALUES (?, ?)",
                             [(item["relay_id"], first + i) for i, item in enumerate(rows)])
        await tx.execute("DELETE FROM signaling_seen WHERE seq <= ?", (first + len(rows) - 1 - seen_history,))
        if retain:
            await tx.executemany(
                "INSERT OR IGNORE INTO signaling_inbox (relay_id, sender, ts, payload) VALUES (?, ?, ?, ?)",
                [(item["relay_id"], item["sender"], item["ts"], encode_payload(item["payload"])) for item in rows])
    await tx.executemany("INSERT INTO signaling_state (name, value) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                         [("cursor", cursor), ("cursor_url", url)])
