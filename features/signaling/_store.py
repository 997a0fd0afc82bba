"""What signaling keeps in the profile database (migrations owner ``signaling``), so that a
kernel that dies loses no message and shows none twice.

    signaling_state    name -> value: ``cursor`` (the relay id last stored, and so the next
                       poll's ``since``) with ``cursor_url`` (the relay it belongs to)
    signaling_seen     relay ids already stored (the newest ``seen_history``, by ``seq``): a
                       redelivery after a crash is recognised and not shown again
    signaling_outbox   sends not yet accepted by the relay, in order (``seq``), with their
                       idempotent ids: after a restart they are sent again and the relay's
                       dedup makes the resend harmless

The relay keeps a message until a later poll's ``since`` acknowledges it, so the cursor moves
only past what is stored. Without a consumer that stores messages, a poll batch's seen ids and
cursor are written in one transaction before any event says it arrived. A consumer that stores
them (``retain_until_acknowledged``) writes each message's seen id, and the cursor, in its own
transaction (``acknowledge``): one commit per message, and a crash at any point leaves the
message either on the relay or stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ._api import TransactionAPI

__all__ = ["MIGRATIONS", "SIGNALING_TABLES", "decode_payload", "encode_payload", "save_batch", "save_seen"]

SIGNALING_TABLES = ("signaling_state", "signaling_seen", "signaling_outbox")

_V1 = """
CREATE TABLE signaling_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE signaling_seen (relay_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX signaling_seen_seq ON signaling_seen (seq);
CREATE TABLE signaling_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"""

MIGRATIONS = ({"owner": "signaling", "version": 1, "sql": _V1,
               "description": "cursor, seen relay ids, outbox"},)


def encode_payload(payload: Any) -> str:
    """Payloads are JSON on the wire; they are kept exactly as sent (compact, key order kept)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_payload(text: str) -> Any:
    return json.loads(text)


_SET_STATE = ("INSERT INTO signaling_state (name, value) VALUES (?, ?) "
              "ON CONFLICT(name) DO UPDATE SET value = excluded.value")


async def save_batch(tx: TransactionAPI, items: Iterable[dict[str, Any]], *, cursor: str, url: str,
                     seen_history: int) -> None:
    """One poll batch (the new items only): their seen ids and the cursor, in one job on the
    database thread."""
    await tx.run(_save_batch, [item["relay_id"] for item in items], cursor, url, seen_history)


async def save_seen(tx: TransactionAPI, relay_id: str, *, cursor: str | None, url: str, seen_history: int) -> bool:
    """One stored message, in its consumer's transaction: its seen id (False if it was there
    already) and, when every message before it is stored too, the cursor. One job on the
    database thread: this runs for every message received."""
    return await tx.run(_save_seen, relay_id, cursor, url, seen_history)


def _next_seq(db: Any) -> int:
    row = db.execute("SELECT coalesce(max(seq), 0) FROM signaling_seen").fetchone()
    return int(row[0]) + 1 if row else 1


def _save_batch(db: Any, relay_ids: list[str], cursor: str, url: str, seen_history: int) -> None:
    if relay_ids:
        first = _next_seq(db)
        db.executemany("INSERT OR IGNORE INTO signaling_seen (relay_id, seq) VALUES (?, ?)",
                       [(relay_id, first + i) for i, relay_id in enumerate(relay_ids)])
        db.execute("DELETE FROM signaling_seen WHERE seq <= ?", (first + len(relay_ids) - 1 - seen_history,))
    db.executemany(_SET_STATE, [("cursor", cursor), ("cursor_url", url)])


def _save_seen(db: Any, relay_id: str, cursor: str | None, url: str, seen_history: int) -> bool:
    seq = _next_seq(db)
    if not db.execute("INSERT OR IGNORE INTO signaling_seen (relay_id, seq) VALUES (?, ?)", (relay_id, seq)).rowcount:
        return False
    if seq % 256 == 0:
        db.execute("DELETE FROM signaling_seen WHERE seq <= ?", (seq - seen_history,))
    if cursor is not None:
        db.executemany(_SET_STATE, [("cursor", cursor), ("cursor_url", url)])
    return True
