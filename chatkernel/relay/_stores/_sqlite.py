"""The SQLite store: durable on one node, so a restarted relay loses nothing.

All SQL runs on one dedicated thread holding the only connection (WAL, synchronous=FULL),
which serialises writes without locks and never blocks the event loop. Rate limits are kept
in this process unless the store is told that several processes share it (``shared_limits``):
then they live in a sidecar database (``_sqlite_limits``) that every process charges.
Wake-ups stay in this process too unless ``shared_wakeups`` is set: then a send or a poll on
one process also wakes the polls parked on the others (``_sqlite_wakeups``, loopback UDP).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._errors import CursorAheadError, MailboxFullError, TooManyPrekeysError
from .._limiter import RateLimiter, SharedLimiter
from ._base import (
    AppendResult,
    Bundle,
    MailboxStore,
    OneTimePrekey,
    PrekeyState,
    SignedPrekey,
    StoredEvent,
    stale_prekey,
    take_within,
)
from ._memory import int_cursor_key
from ._sqlite_limits import SQLiteLimits, limits_path
from ._sqlite_thread import SQLiteThread, immediate
from ._sqlite_wakeups import PeerWakeups

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox TEXT NOT NULL, sender TEXT NOT NULL, ts INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_mailbox ON messages (mailbox, id);
CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (ts);
CREATE TABLE IF NOT EXISTS mailboxes (user TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dedup (
    sender TEXT NOT NULL, msg_id TEXT NOT NULL, mailbox TEXT NOT NULL,
    relay_id INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (sender, msg_id));
CREATE TABLE IF NOT EXISTS keys (user TEXT PRIMARY KEY, public_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (digest TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    user TEXT PRIMARY KEY, id INTEGER NOT NULL, key TEXT NOT NULL, sig TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user TEXT NOT NULL, id INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY (user, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prekey_high (user TEXT PRIMARY KEY, high INTEGER NOT NULL);
"""


class SQLiteStore(MailboxStore):
    backend = "sqlite"

    def __init__(self, path: str | Path, *, shared_limits: bool = False, shared_wakeups: bool = False):
        """``shared_limits``: several relay processes serve this file, so rate limits must be
        counted in ``<path>-limits`` for all of them. Set it (or the attribute) before the app
        is created: the app takes its limiters from the store then. ``shared_wakeups``: wake
        parked polls in every process using this file, not only in this one (set before
        :meth:`open`)."""
        super().__init__()
        self.path = Path(path)
        self.shared_limits = shared_limits
        self.shared_wakeups = shared_wakeups
        self._limits = SQLiteLimits(limits_path(self.path))
        self._peers: PeerWakeups | None = None
        self._sql = SQLiteThread(self._connect, what="the SQLite store", thread_name="relay-sqlite")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def open(self) -> None:
        if self._sql.is_open:
            return
        await self._sql.open()
        if self.shared_limits:
            try:
                await self._limits.open()
            except BaseException:
                await self.close()
                raise
        if self.shared_wakeups and self._peers is None:
            peers = PeerWakeups(self._hub, self._on_conn)
            try:
                await peers.start()
            except BaseException:
                await self.close()
                raise
            self._peers = peers

    async def close(self) -> None:
        peers, self._peers = self._peers, None
        if peers is not None:
            await peers.stop()  # first: it unregisters through the connection
        await self._limits.close()
        await self._sql.close()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        # Freed pages are zeroed, so an acknowledged payload does not linger in the file
        # (the build's default is usually off).
        db.execute("PRAGMA secure_delete=ON")
        db.executescript(_SCHEMA)
        return db

    async def ping(self) -> None:
        await self._run(self._scalar, "SELECT count(*) FROM mailboxes WHERE user = ''", ())

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._sql.run(fn, *args)

    async def _on_conn(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the SQL thread (for the wake-up channel's bookkeeping)."""
        return await self._run(lambda: fn(self._conn, *args))

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._sql.db

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._conn)

    # Mailboxes ---------------------------------------------------------------------------
    def cursor_key(self, cursor: str) -> tuple[int, int]:
        return int_cursor_key(cursor)

    async def append(
        self, *, to: str, sender: str, msg_id: str, payload: str, ts: int, max_len: int, dedup_until: int
    ) -> AppendResult:
        result = await self._run(self._append, to, sender, msg_id, payload, ts, max_len, dedup_until)
        if not result.duplicate:
            self._hub.dispatch(to, "message")
            if self._peers is not None:
                self._peers.message(to, int(result.relay_id))
        return result

    def _append(
        self, to: str, sender: str, msg_id: str, payload: str, ts: int, max_len: int, dedup_until: int
    ) -> AppendResult:
        with self._transaction() as db:
            row = db.execute(
                "SELECT mailbox, relay_id FROM dedup WHERE sender = ? AND msg_id = ? AND expires_at > ?",
                (sender, msg_id, ts),
            ).fetchone()
            if row is not None:
                return AppendResult(str(row[1]), True, row[0])
            (count,) = db.execute("SELECT count(*) FROM messages WHERE mailbox = ?", (to,)).fetchone()
            if count >= max_len:
                raise MailboxFullError(to, max_len)
            cur = db.execute(
                "INSERT INTO messages (mailbox, sender, ts, payload) VALUES (?, ?, ?, ?)", (to, sender, ts, payload)
            )
            relay_id = cur.lastrowid
            db.execute(
                "INSERT INTO mailboxes (user, last_id) VALUES (?, ?)"
                " ON CONFLICT (user) DO UPDATE SET last_id = excluded.last_id",
                (to, relay_id),
            )
            db.execute(
                "INSERT OR REPLACE INTO dedup (sender, msg_id, mailbox, relay_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                (sender, msg_id, to, relay_id, dedup_until),
            )
        return AppendResult(str(relay_id), False, to)

    async def read(self, user: str, after: str | None, *, limit: int, max_bytes: int) -> list[StoredEvent]:
        floor = -1 if after is None else int_cursor_key(after)[0]
        return await self._run(self._read, user, floor, limit, max_bytes)

    def _read(self, user: str, floor: int, limit: int, max_bytes: int) -> list[StoredEvent]:
        rows = self._conn.execute(
            "SELECT id, sender, ts, payload FROM messages WHERE mailbox = ? AND id > ? ORDER BY id LIMIT ?",
            (user, floor, limit),
        )
        return take_within((StoredEvent(str(r[0]), r[1], r[2], r[3]) for r in rows), limit, max_bytes)

    async def ack(self, user: str, upto: str) -> int:
        return await self._run(self._ack, user, upto)

    def _ack(self, user: str, upto: str) -> int:
        upto_n = int_cursor_key(upto)[0]
        row = self._conn.execute("SELECT last_id FROM mailboxes WHERE user = ?", (user,)).fetchone()
        if upto_n > (row[0] if row else 0):
            raise CursorAheadError(upto)
        return self._conn.execute("DELETE FROM messages WHERE mailbox = ? AND id <= ?", (user, upto_n)).rowcount

    async def length(self, user: str) -> int:
        return await self._run(self._scalar, "SELECT count(*) FROM messages WHERE mailbox = ?", (user,))

    def _scalar(self, sql: str, params: tuple[Any, ...]) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    async def purge(self, *, before: int, now: int) -> int:
        return await self._run(self._purge, before, now)

    def _purge(self, before: int, now: int) -> int:
        with self._transaction() as db:
            removed = db.execute("DELETE FROM messages WHERE ts < ?", (before,)).rowcount
            for table in ("dedup", "tokens", "proofs"):
                db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))  # noqa: S608 (fixed names)
        # The WAL still holds pre-delete copies of pages; fold it into the (zeroed) main file
        # and truncate it, so acknowledged payloads are gone from disk within one purge interval.
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    # Rate limits -------------------------------------------------------------------------
    def rate_limiter(self, name: str, rate: float, burst: float, *, max_keys: int) -> RateLimiter:
        if not self.shared_limits:
            return super().rate_limiter(name, rate, burst, max_keys=max_keys)
        return SharedLimiter(name, rate, burst, self._limits.take)  # expired rows are swept

    # Identity ----------------------------------------------------------------------------
    async def bind_key(self, user: str, public_key: str) -> bool:
        return await self._run(self._bind_key, user, public_key)

    def _bind_key(self, user: str, public_key: str) -> bool:
        self._conn.execute("INSERT OR IGNORE INTO keys (user, public_key) VALUES (?, ?)", (user, public_key))
        return bool(self._scalar("SELECT public_key FROM keys WHERE user = ?", (user,)) == public_key)

    async def get_key(self, user: str) -> str | None:
        return await self._run(self._scalar, "SELECT public_key FROM keys WHERE user = ?", (user,))

    async def put_token(self, token_hash: str, user: str, expires_at: int) -> None:
        await self._run(
            self._execute,
            "INSERT OR REPLACE INTO tokens (hash, user, expires_at) VALUES (?, ?, ?)",
            (token_hash, user, expires_at),
        )

    def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._conn.execute(sql, params).rowcount

    async def token_user(self, token_hash: str, now: int) -> str | None:
        return await self._run(
            self._scalar, "SELECT user FROM tokens WHERE hash = ? AND expires_at > ?", (token_hash, now)
        )

    async def revoke_token(self, token_hash: str) -> bool:
        return await self._run(self._execute, "DELETE FROM tokens WHERE hash = ?", (token_hash,)) > 0

    async def remember_proof(self, digest: str, expires_at: int, now: int) -> bool:
        return await self._run(self._remember_proof, digest, expires_at, now)

    def _remember_proof(self, digest: str, expires_at: int, now: int) -> bool:
        with self._transaction() as db:
            db.execute("DELETE FROM proofs WHERE digest = ? AND expires_at <= ?", (digest, now))
            return db.execute("INSERT OR IGNORE INTO proofs VALUES (?, ?)", (digest, expires_at)).rowcount == 1

    # Key directory -----------------------------------------------------------------------
    # BEGIN IMMEDIATE takes the file's write lock before the first read, so processes sharing
    # the file run these one at a time: a one-time prekey is read and deleted by one of them.
    async def put_prekeys(
        self, user: str, signed: SignedPrekey | None, one_time: Sequence[OneTimePrekey], *, max_total: int
    ) -> PrekeyState:
        return await self._run(self._put_prekeys, user, signed, tuple(one_time), max_total)

    def _put_prekeys(
        self, user: str, signed: SignedPrekey | None, one_time: tuple[OneTimePrekey, ...], max_total: int
    ) -> PrekeyState:
        with self._transaction() as db:
            row = db.execute("SELECT id, key, sig FROM signed_prekeys WHERE user = ?", (user,)).fetchone()
            current = SignedPrekey(*row) if row else None
            if signed is not None and current is not None and (
                signed.id < current.id or (signed.id == current.id and signed != current)
            ):
                raise stale_prekey(current.id)
            high = self._scalar("SELECT high FROM prekey_high WHERE user = ?", (user,))
            new = [k for k in one_time if high is None or k.id > high]
            (stock,) = db.execute("SELECT count(*) FROM one_time_prekeys WHERE user = ?", (user,)).fetchone()
            if stock + len(new) > max_total:
                raise TooManyPrekeysError(max_total, stock)
            if signed is not None:
                db.execute("INSERT OR REPLACE INTO signed_prekeys (user, id, key, sig) VALUES (?, ?, ?, ?)",
                           (user, signed.id, signed.key, signed.sig))
                current = signed
            db.executemany("INSERT INTO one_time_prekeys (user, id, key) VALUES (?, ?, ?)",
                           [(user, k.id, k.key) for k in new])
            if new:
                db.execute("INSERT OR REPLACE INTO prekey_high (user, high) VALUES (?, ?)",
                           (user, max(k.id for k in new)))
        return PrekeyState(current.id if current else None, stock + len(new), len(new))

    async def take_prekeys(self, user: str) -> Bundle | None:
        return await self._run(self._take_prekeys, user)

    def _take_prekeys(self, user: str) -> Bundle | None:
        with self._transaction() as db:
            row = db.execute("SELECT id, key, sig FROM signed_prekeys WHERE user = ?", (user,)).fetchone()
            if row is None:
                return None
            otk = db.execute("SELECT id, key FROM one_time_prekeys WHERE user = ? ORDER BY id LIMIT 1",
                             (user,)).fetchone()
            if otk is not None:
                db.execute("DELETE FROM one_time_prekeys WHERE user = ? AND id = ?", (user, otk[0]))
        return Bundle(SignedPrekey(*row), OneTimePrekey(*otk) if otk else None)

    # Wake-ups ----------------------------------------------------------------------------
    async def notify(self, user: str, reason: str) -> None:
        self._hub.dispatch(user, reason)
        if self._peers is not None:
            self._peers.broadcast(user, reason)
