"""Wake-ups between relay processes that share one SQLite file (``--workers N``), over loopback UDP.

Redis carries wake-ups between nodes on pub/sub; SQLite has no such channel, so a store opened
with ``shared_wakeups`` binds a UDP socket on 127.0.0.1, registers its port in the database
under a lease (renewed every few seconds, so a killed worker drops out by itself), and sends
one datagram per wake-up to every other live process. One-process SQLite does none of this.

Datagrams carry a per-sender sequence number and an HMAC-SHA256 tag under a random secret kept
in the database (whoever can read the file can read every mailbox anyway), and their body must
match a strict grammar, so a forged, altered, replayed or malformed datagram from another local
process is dropped. A valid one can only do what a local notify does: make one user's parked
polls re-read, or end an older or revoked poll with ``[]``. Addresses are loopback only: the
table holds ports, never hosts.

Loss (a receiver's buffer overflowing) is bounded: messages never depend on a datagram. Every
second each process asks the database which mailboxes got messages since its last look and
wakes those it was not told about, so a lost ``message`` wake-up delays delivery by about a
second. A lost ``poll`` or ``revoke`` leaves the older poll parked until its timeout or the
next message (at most ``poll_max_timeout``); gaps in the sequence numbers are counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import re
import secrets
import socket
import sqlite3
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._sqlite_thread import immediate
from ._wakeup import WakeupHub

__all__ = ["PeerWakeups"]

log = logging.getLogger("chatkernel.relay.sqlite")

T = TypeVar("T")
#: Runs ``fn(connection, *args)`` on the store's SQL thread.
Runner = Callable[..., Awaitable[Any]]

_HOST = "127.0.0.1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS wake_nodes (node TEXT PRIMARY KEY, port INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wake_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL);
"""
_HEADER = struct.Struct("!4s8sQ")  # magic, sender node, sequence number
_MAGIC = b"ckw1"
_TAG_BYTES = 16
_MAX_BODY = 128
# "<user> message <relay id>" | "<user> poll <ns>:<16 hex>" | "<user> revoke"
_BODY = re.compile(rb"([A-Za-z0-9_-]{1,64}) (?:message ([0-9]{1,19})|(poll [0-9]{1,20}:[0-9a-f]{16}|revoke))\Z")
_RECEIVE_BUFFER = 1 << 20  # ask for 1 MiB (the kernel may cap it at net.core.rmem_max)
_LOSS_LOG_INTERVAL = 60.0
# Datagrams read per wake of the event loop. asyncio's datagram transport reads one per loop
# iteration, which a busy relay falls behind on; this drains the socket in one go instead.
_DRAIN_BATCH = 256


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _tag(secret: bytes, signed: bytes) -> bytes:
    return hmac.digest(secret, signed, "sha256")[:_TAG_BYTES]


class PeerWakeups:
    """This process's end of the wake-up channel for one SQLite file."""

    def __init__(self, hub: WakeupHub, run: Runner, *, tick: float = 1.0, lease: float = 15.0, renew_every: int = 3):
        self._hub = hub
        self._run = run
        self.tick = tick
        self.lease_ms = int(lease * 1000)
        self.renew_every = renew_every
        self.node = secrets.token_bytes(8)
        self.port = 0
        self._secret = b""
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._peers: tuple[tuple[bytes, int], ...] = ()
        self._seq = 0
        self._last_seq: dict[bytes, int] = {}
        self._notified: dict[str, int] = {}  # user -> newest relay id a wake-up was given for
        self._high_water = 0  # newest message id the catch-up has looked at
        self._loss_logged = 0.0
        self.received_count = 0
        self.rejected = 0
        self.lost = 0
        self.caught_up = 0
        self.send_failures = 0

    def __repr__(self) -> str:
        return f"<PeerWakeups 127.0.0.1:{self.port} peers={len(self._peers)}>"

    @property
    def peer_ports(self) -> tuple[int, ...]:
        return tuple(port for _node, port in self._peers)

    # Lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            sock.bind((_HOST, 0))
            sock.setblocking(False)
            self.port = int(sock.getsockname()[1])
            self._secret, self._high_water, peers = await self._run(_register, self.node.hex(), self.port,
                                                                    _now_ms(), self.lease_ms)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._set_peers(peers)
        loop.add_reader(sock.fileno(), self._drain)
        self._task = loop.create_task(self._ticks(), name="relay-sqlite-wakeups")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
            with contextlib.suppress(Exception):  # the store is closing anyway: its lease lapses
                await self._run(_unregister, self.node.hex())

    # Sending -----------------------------------------------------------------------------
    def message(self, user: str, relay_id: int) -> None:
        """A message was stored here for ``user``: tell the other processes."""
        self._note(user, relay_id)
        self._send(f"{user} message {relay_id}")

    def broadcast(self, user: str, reason: str) -> None:
        """Any other wake-up (a newer poll, a revoked token)."""
        self._send(f"{user} {reason}")

    def _send(self, text: str) -> None:
        sock = self._sock
        if sock is None or not self._peers:
            return
        body = text.encode("ascii", "replace")
        if len(body) > _MAX_BODY or _BODY.match(body) is None:
            return  # receivers would drop it: not a wake-up another process can act on
        self._seq += 1
        signed = _HEADER.pack(_MAGIC, self.node, self._seq) + body
        packet = signed + _tag(self._secret, signed)
        for _node, port in self._peers:
            try:
                sock.sendto(packet, (_HOST, port))
            except OSError:  # a full send buffer, or a peer that just died: the catch-up covers it
                self.send_failures += 1

    # Receiving ---------------------------------------------------------------------------
    def _drain(self) -> None:
        sock = self._sock
        for _ in range(_DRAIN_BATCH):
            if sock is None:
                return
            try:
                data, addr = sock.recvfrom(_HEADER.size + _MAX_BODY + _TAG_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ECONNREFUSED reported for an earlier send to a dead peer
                continue
            self.received(data, addr)

    def received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Check one datagram strictly; act on it only if every check passes."""
        fields = self._check(data, addr)
        if fields is None:
            self.rejected += 1
            return
        node, seq, user, relay_id, reason = fields
        last = self._last_seq.get(node)
        if last is not None and seq <= last:
            self.rejected += 1  # a replay (or a duplicate)
            return
        if last is not None and seq > last + 1:
            self._count_lost(seq - last - 1)
        self._last_seq[node] = seq
        self.received_count += 1
        if relay_id is not None:
            self._note(user, relay_id)
            self._hub.dispatch(user, "message")
        else:
            self._hub.dispatch(user, reason)

    def _check(self, data: bytes, addr: tuple[Any, ...]) -> tuple[bytes, int, str, int | None, str] | None:
        size = len(data)
        if not _HEADER.size + 1 + _TAG_BYTES <= size <= _HEADER.size + _MAX_BODY + _TAG_BYTES:
            return None
        try:
            if not ipaddress.ip_address(addr[0]).is_loopback:
                return None
        except (ValueError, IndexError, TypeError):
            return None
        signed, tag = data[:-_TAG_BYTES], data[-_TAG_BYTES:]
        magic, node, seq = _HEADER.unpack_from(signed)
        if magic != _MAGIC or node == self.node or not hmac.compare_digest(tag, _tag(self._secret, signed)):
            return None
        match = _BODY.match(signed, _HEADER.size)
        if match is None:
            return None
        user = match[1].decode("ascii")
        if match[2] is not None:
            return node, seq, user, int(match[2]), "message"
        return node, seq, user, None, match[3].decode("ascii")

    def _count_lost(self, count: int) -> None:
        self.lost += count
        now = time.monotonic()
        if now - self._loss_logged >= _LOSS_LOG_INTERVAL:
            self._loss_logged = now
            log.warning("%d wake-ups from other relay processes were lost so far; messages are still found "
                        "within %.0f s, an older poll may stay parked until its timeout", self.lost, self.tick)

    def _note(self, user: str, relay_id: int) -> None:
        if relay_id > self._notified.get(user, 0):
            self._notified[user] = relay_id

    # The catch-up, the lease and the peer list ---------------------------------------------
    async def _ticks(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(self.tick)
            count += 1
            try:
                await self.tick_once(renew=count % self.renew_every == 0)
            except Exception as exc:  # noqa: BLE001 - a busy or failing database: try again next tick
                log.warning("wake-up bookkeeping in the database failed (%s); retrying", exc)

    async def tick_once(self, *, renew: bool = False) -> None:
        """Refresh the peer list (and the lease), and wake the local polls of mailboxes that got
        messages since the last look without a datagram saying so."""
        rows, high_water, peers = await self._run(
            _tick, self.node.hex(), self.port, _now_ms(), self.lease_ms, self._high_water, renew
        )
        self._set_peers(peers)
        for user, newest in rows:
            if newest > self._notified.get(user, 0):
                self.caught_up += 1
                self._hub.dispatch(user, "message")
        self._high_water = max(self._high_water, high_water)
        self._notified = {user: rid for user, rid in self._notified.items() if rid > self._high_water}

    def _set_peers(self, peers: list[tuple[str, int]]) -> None:
        self._peers = tuple((bytes.fromhex(node), port) for node, port in peers)
        live = {node for node, _port in self._peers}
        self._last_seq = {node: seq for node, seq in self._last_seq.items() if node in live}


# On the store's SQL thread ------------------------------------------------------------------
def _peers(db: sqlite3.Connection, node: str, now: int) -> list[tuple[str, int]]:
    rows = db.execute("SELECT node, port FROM wake_nodes WHERE expires_at > ? AND node != ?", (now, node))
    return [(str(n), int(p)) for n, p in rows if 0 < int(p) < 65536 and re.fullmatch(r"[0-9a-f]{16}", str(n))]


def _register(db: sqlite3.Connection, node: str, port: int, now: int, lease: int) -> tuple[bytes, int, list[Any]]:
    db.executescript(_SCHEMA)
    with immediate(db):
        # The first process to get here picks the secret; every later one reads it.
        db.execute("INSERT OR IGNORE INTO wake_secret (id, secret) VALUES (1, ?)", (secrets.token_bytes(32),))
        (secret,) = db.execute("SELECT secret FROM wake_secret WHERE id = 1").fetchone()
        db.execute("DELETE FROM wake_nodes WHERE expires_at <= ?", (now,))
        db.execute("INSERT OR REPLACE INTO wake_nodes (node, port, expires_at) VALUES (?, ?, ?)",
                   (node, port, now + lease))
        (high_water,) = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
    return bytes(secret), int(high_water), _peers(db, node, now)


def _unregister(db: sqlite3.Connection, node: str) -> None:
    db.execute("DELETE FROM wake_nodes WHERE node = ?", (node,))


def _tick(db: sqlite3.Connection, node: str, port: int, now: int, lease: int, high_water: int, renew: bool
          ) -> tuple[list[tuple[str, int]], int, list[tuple[str, int]]]:
    if renew:
        renewed = db.execute("UPDATE wake_nodes SET expires_at = ? WHERE node = ?", (now + lease, node)).rowcount
        if not renewed:  # the lease lapsed (this process stalled): register again
            db.execute("INSERT OR REPLACE INTO wake_nodes (node, port, expires_at) VALUES (?, ?, ?)",
                       (node, port, now + lease))
        db.execute("DELETE FROM wake_nodes WHERE expires_at <= ?", (now,))
    rows = [(str(u), int(m)) for u, m in db.execute(
        "SELECT mailbox, max(id) FROM messages WHERE id > ? GROUP BY mailbox", (high_water,))]
    newest = max((m for _u, m in rows), default=high_water)
    return rows, newest, _peers(db, node, now)
