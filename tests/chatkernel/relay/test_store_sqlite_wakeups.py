"""SQLite wake-ups across processes (``shared_wakeups``): delivered, authenticated, bounded on loss.

Two store instances on one file in this process talk over loopback UDP exactly as two workers
would; the datagram checks are driven directly with packets built here.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatkernel.relay import SQLiteStore
from chatkernel.relay._stores._sqlite_wakeups import _HEADER, _MAGIC, PeerWakeups, _tag

pytestmark = pytest.mark.anyio

BOB = "b" * 32
ALICE = "a" * 32
POLL = "poll 1700000000000000000:0123456789abcdef"


async def put(store: SQLiteStore, msg_id: str, to: str = BOB) -> str:
    result = await store.append(to=to, sender=ALICE, msg_id=msg_id, payload='"x"', ts=1, max_len=100,
                                dedup_until=10**13)
    return result.relay_id


def peers_of(store: SQLiteStore) -> PeerWakeups:
    assert store._peers is not None
    return store._peers


async def manual(store: SQLiteStore) -> PeerWakeups:
    """Stop the once-a-second ticks: the test runs each one itself, so nothing races it."""
    peers = peers_of(store)
    assert peers._task is not None
    peers._task.cancel()
    return peers


@pytest.fixture
async def pair(tmp_path: Path, anyio_backend: str) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two processes' stores on one file; the first learns of the second at its next tick."""
    a = SQLiteStore(tmp_path / "relay.db", shared_wakeups=True)
    b = SQLiteStore(tmp_path / "relay.db", shared_wakeups=True)
    await a.open()
    await b.open()
    try:
        assert peers_of(b).peer_ports == (peers_of(a).port,)  # b registered after a
        await (await manual(a)).tick_once()
        await manual(b)
        assert peers_of(a).peer_ports == (peers_of(b).port,)
        yield a, b
    finally:
        await a.close()
        await b.close()


def packet(secret: bytes, node: bytes, seq: int, body: bytes) -> bytes:
    signed = _HEADER.pack(_MAGIC, node, seq) + body
    return signed + _tag(secret, signed)


async def test_every_wakeup_but_shutdown_crosses(pair: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = pair
    with a.listen(BOB) as listener:
        await put(b, "m1")
        assert await listener.wait(5) == "message"
        await b.notify(BOB, POLL)
        assert await listener.wait(5) == POLL
        await b.notify(BOB, "revoke")
        assert await listener.wait(5) == "revoke"
        b.wake_all_local("shutdown")  # stopping one worker must not end the others' polls
        await b.notify(BOB, "shutdown")
        await b.notify(BOB, "revoke")  # a marker: whatever arrives first after it was sent
        assert await listener.wait(5) == "revoke"


async def test_forged_altered_replayed_and_malformed_datagrams_are_dropped(
    pair: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, b = pair
    target = peers_of(a)
    secret = peers_of(b)._secret
    node = peers_of(b).node  # a live peer's id: its replay record is kept
    good = packet(secret, node, 7, f"{BOB} revoke".encode())
    loopback = ("127.0.0.1", 40000)
    with a.listen(BOB) as listener:
        rejected = target.rejected
        target.received(packet(b"not the secret", node, 1, f"{BOB} revoke".encode()), loopback)
        target.received(good[:-1] + bytes([good[-1] ^ 1]), loopback)  # one bit of the tag
        target.received(good[:30] + b"c" + good[31:], loopback)  # one byte of the user
        for body in (f"{BOB} shutdown", f"{BOB} resync", f"{BOB} message", f"{BOB} poll 1:xyz",
                     f"{BOB}  revoke", f"{BOB} revoke\n", f"b\u00e9 revoke", "x" * 65 + " revoke"):
            target.received(packet(secret, node, 1, body.encode()), loopback)
        target.received(good, ("10.0.0.1", 40000))  # not loopback
        target.received(good[:10], loopback)
        assert target.rejected == rejected + 13
        assert await listener.wait(0.05) is None

        target.received(good, loopback)
        assert await listener.wait(1) == "revoke"
        target.received(good, loopback)  # the same datagram again: a replay
        assert target.rejected == rejected + 14
        assert await listener.wait(0.05) is None


async def test_a_gap_in_the_sequence_is_counted_as_loss(pair: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = pair
    target, secret = peers_of(a), peers_of(b)._secret
    node = peers_of(b).node
    for seq in (1, 2, 5):
        target.received(packet(secret, node, seq, f"{BOB} revoke".encode()), ("127.0.0.1", 1))
    assert target.lost == 2


async def test_a_lost_message_wakeup_is_caught_up_from_the_database(pair: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = pair
    peers_of(b)._peers = ()  # every datagram from b is lost (until its next tick)
    with a.listen(BOB) as listener:
        await put(b, "lost")
        assert await listener.wait(0.2) is None
        await peers_of(a).tick_once()  # what a's next tick, within a second, does
        assert await listener.wait(0) == "message"
        assert peers_of(a).caught_up == 1


async def test_a_message_already_announced_is_not_caught_up_again(pair: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = pair
    with a.listen(BOB) as listener:
        await put(b, "once")
        assert await listener.wait(5) == "message"
        await peers_of(a).tick_once()
        assert await listener.wait(0) is None
        await put(a, "local")  # stored by a itself: announced locally, not caught up either
        assert await listener.wait(0) == "message"
        await peers_of(a).tick_once(renew=True)
        assert await listener.wait(0) is None
    assert peers_of(a).caught_up == 0


async def test_leases_drop_dead_processes_and_close_unregisters(tmp_path: Path, anyio_backend: str) -> None:
    path = tmp_path / "relay.db"
    first = SQLiteStore(path, shared_wakeups=True)
    await first.open()
    with sqlite3.connect(path) as db:  # a worker killed long ago left its row behind
        db.execute("INSERT INTO wake_nodes VALUES ('00000000000000ff', 9, 1)")
    second = SQLiteStore(path, shared_wakeups=True)
    await second.open()
    try:
        assert peers_of(second).peer_ports == (peers_of(first).port,)
    finally:
        await first.close()
        await second.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM wake_nodes").fetchone() == (0,)


async def test_every_process_on_a_file_uses_one_secret(tmp_path: Path, anyio_backend: str) -> None:
    stores = [SQLiteStore(tmp_path / "relay.db", shared_wakeups=True) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        secrets = {peers_of(s)._secret for s in stores}
        assert len(secrets) == 1 and len(secrets.pop()) == 32
    finally:
        for store in stores:
            await store.close()


async def test_one_process_sqlite_binds_nothing(tmp_path: Path, anyio_backend: str, monkeypatch) -> None:
    opened: list[object] = []
    real = socket.socket.__init__

    def spy(self: socket.socket, *args: object, **kwargs: object) -> None:
        opened.append(args)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "__init__", spy)
    store = SQLiteStore(tmp_path / "relay.db")
    await store.open()
    try:
        with store.listen(BOB) as listener:
            await put(store, "m")
            await store.notify(BOB, POLL)
            assert [await listener.wait(1), await listener.wait(1)] == ["message", POLL]
        assert store._peers is None
    finally:
        await store.close()
    assert opened == []
    with sqlite3.connect(tmp_path / "relay.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "wake_nodes" not in tables
