"""Property tests: per-recipient FIFO order and deduplication hold for any interleaving of
sends, polls and acks (in-memory and SQLite stores, against a plain model)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkernel.relay import MailboxStore, MemoryStore, SQLiteStore

SENDERS = ["a" * 32, "c" * 32]
RECIPIENTS = ["b" * 32, "d" * 32]

send_op = st.tuples(st.just("send"), st.sampled_from(SENDERS), st.sampled_from(RECIPIENTS),
                    st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6"]))
poll_op = st.tuples(st.just("poll"), st.sampled_from(RECIPIENTS), st.integers(0, 3), st.integers(1, 4))
ops_strategy = st.lists(st.one_of(send_op, poll_op), max_size=40)


async def check(store: MailboxStore, ops: list[tuple]) -> None:
    model: dict[str, list[tuple[str, str, str]]] = {r: [] for r in RECIPIENTS}  # (relay id, sender, payload)
    first: dict[tuple[str, str], tuple[str, str]] = {}  # (sender, msg id) -> (to, relay id)
    seen: dict[str, list[str]] = {r: [] for r in RECIPIENTS}  # ids delivered so far, usable as cursors
    ts = 1_000_000
    for op in ops:
        ts += 1
        if op[0] == "send":
            _, sender, to, msg_id = op
            payload = f'"{sender[0]}-{msg_id}"'
            result = await store.append(to=to, sender=sender, msg_id=msg_id, payload=payload, ts=ts,
                                        max_len=1000, dedup_until=ts + 10**9)
            if (sender, msg_id) in first:
                assert result.duplicate
                assert (result.to, result.relay_id) == first[(sender, msg_id)]
            else:
                assert not result.duplicate
                box = model[to]
                if box:
                    assert store.cursor_key(result.relay_id) > store.cursor_key(box[-1][0])
                first[(sender, msg_id)] = (to, result.relay_id)
                box.append((result.relay_id, sender, payload))
        else:
            _, user, pick, limit = op
            delivered = seen[user]
            since = delivered[-1 - pick] if pick < len(delivered) else None
            box = model[user]
            if since is not None:
                await store.ack(user, since)
                key = store.cursor_key(since)
                box[:] = [m for m in box if store.cursor_key(m[0]) > key]
            events = await store.read(user, since, limit=limit, max_bytes=1 << 20)
            assert [(e.id, e.sender, e.payload) for e in events] == box[:limit]
            delivered.extend(e.id for e in events)
    for user in RECIPIENTS:  # nothing unacknowledged was lost
        events = await store.read(user, None, limit=1000, max_bytes=1 << 20)
        assert [e.id for e in events] == [m[0] for m in model[user]]


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy)
def test_memory_store_order_and_dedup(ops: list[tuple]) -> None:
    asyncio.run(check(MemoryStore(), ops))


async def _with_sqlite(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "relay.db")
        await store.open()
        try:
            await check(store, ops)
        finally:
            await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy)
def test_sqlite_store_order_and_dedup(ops: list[tuple]) -> None:
    asyncio.run(_with_sqlite(ops))
