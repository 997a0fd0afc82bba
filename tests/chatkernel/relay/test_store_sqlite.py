"""SQLite-only behaviour: an acknowledged payload is gone from the disk, not just unlinked.

Without ``secure_delete`` the freed pages keep the payload's bytes until they are reused, and
the WAL keeps pre-delete copies until a checkpoint; the purge loop checkpoints and truncates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatkernel.relay import SQLiteStore

pytestmark = pytest.mark.anyio

USER = "a" * 32
MARKER = "secret-payload-7f3a9c"


def _on_disk(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


async def test_acknowledged_payloads_leave_no_bytes_on_disk(tmp_path: Path) -> None:
    db = tmp_path / "relay.db"
    store = SQLiteStore(db)
    await store.open()
    try:
        for i in range(20):
            await store.append(to=USER, sender="b" * 32, msg_id=f"m{i}", payload=f'"{MARKER}-{i}"', ts=1_000 + i,
                               max_len=100, dedup_until=10**13)
        events = await store.read(USER, None, limit=100, max_bytes=10**6)
        assert MARKER.encode() in _on_disk(db)
        assert await store.ack(USER, events[-1].id) == 20
        await store.purge(before=0, now=2_000)  # what the relay's purge loop runs every minute
        assert MARKER.encode() not in _on_disk(db)
        # Set by the store itself, whatever the SQLite build's default (Debian's is on).
        assert await store._run(store._scalar, "PRAGMA secure_delete", ()) == 1
    finally:
        await store.close()
