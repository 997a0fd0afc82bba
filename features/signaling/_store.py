"""What signaling keeps in the profile database (migrations owner ``signaling``), so that a
kernel that dies loses no message and shows none twice.

    signaling_state    name -> value: ``cursor`` (the relay id last stored, and so the next
                       poll's ``since``) with ``cursor_url`` (the relay it belongs to)
    signaling_seen     (relay URL, relay id) already stored (the newest ``seen_history``, by
                       ``seq``): a redelivery after a crash is recognised and not shown again.
                       Relay ids are a relay's own (a memory relay that restarts numbers from 1
                       again): an id is "seen" only for the relay it came from, and a relay
                       that lost its mailboxes (``cursor_ahead``) has its ids forgotten
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

__all__ = ["MIGRATIONS", "SIGNALING_TABLES", "decode_payload", "encode_payload", "forget_relay", "save_batch",
           "save_seen"]

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

# Version 1 keyed seen ids by relay id alone, so a relay that numbered from 1 again, or another
# relay, had its new messages taken for redeliveries and dropped. They were seen on the relay of
# the stored cursor (the only relay a profile had used, or the last one).
_V2 = """
CREATE TABLE signaling_seen_v2 (url TEXT NOT NULL, relay_id TEXT NOT NULL, seq INTEGER NOT NULL,
                                PRIMARY KEY (url, relay_id));
INSERT INTO signaling_seen_v2 (url, relay_id, seq)
    SELECT coalesce((SELECT value FROM signaling_state WHERE name = 'cursor_url'), ''), relay_id, seq
    FROM signaling_seen;
DROP TABLE signaling_seen;
ALTER TABLE signaling_seen_v2 RENAME TO signaling_seen;
CREATE INDEX signaling_seen_seq ON signaling_seen (seq);
"""

MIGRATIONS = ({"owner": "signaling", "version": 1, "sql": _V1,
               "description": "cursor, seen relay ids, outbox"},
              {"owner": "signaling", "version": 2, "sql": _V2,
               "description": "seen relay ids per relay URL"})


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


async def forget_relay(tx: TransactionAPI, url: str) -> None:
    """The relay at ``url`` lost its mailboxes: its ids will be handed out again."""
    await tx.execute("DELETE FROM signaling_seen WHERE url = ?", (url,))


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
        db.executemany("INSERT OR IGNORE INTO signaling_seen (url, relay_id, seq) VALUES (?, ?, ?)",
                       [(url, relay_id, first + i) for i, relay_id in enumerate(relay_ids)])
        db.execute("DELETE FROM signaling_seen WHERE seq <= ?", (first + len(relay_ids) - 1 - seen_history,))
    db.executemany(_SET_STATE, [("cursor", cursor), ("cursor_url", url)])


def _save_seen(db: Any, relay_id: str, cursor: str | None, url: str, seen_history: int) -> bool:
    seq = _next_seq(db)
    if not db.execute("INSERT OR IGNORE INTO signaling_seen (url, relay_id, seq) VALUES (?, ?, ?)",
                      (url, relay_id, seq)).rowcount:
        return False
    if seq % 256 == 0:
        db.execute("DELETE FROM signaling_seen WHERE seq <= ?", (seq - seen_history,))
    if cursor is not None:
        db.executemany(_SET_STATE, [("cursor", cursor), ("cursor_url", url)])
    return True
