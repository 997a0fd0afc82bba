"""The SQLite store: durable on one node, so a restarted relay loses nothing.

All SQL runs on one dedicated thread holding the only connection (WAL, synchronous=FULL),
which serialises writes without locks and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .._errors import CursorAheadError, MailboxFullError, StoreError
from ._base import AppendResult, MailboxStore, StoredEvent, take_within
from ._memory import int_cursor_key

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
"""


class SQLiteStore(MailboxStore):
    backend = "sqlite"

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-sqlite")
        try:
            await self._run(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._run(self._disconnect)
        finally:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        self._db = db

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError("the SQLite store is not open", backend=self.backend)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite failed: {exc}", backend=self.backend) from exc

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "SQLiteStore used before open()"
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # Mailboxes ---------------------------------------------------------------------------
    def cursor_key(self, cursor: str) -> tuple[int, int]:
        return int_cursor_key(cursor)

    async def append(
        self, *, to: str, sender: str, msg_id: str, payload: str, ts: int, max_len: int, dedup_until: int
    ) -> AppendResult:
        result = await self._run(self._append, to, sender, msg_id, payload, ts, max_len, dedup_until)
        if not result.duplicate:
            self._hub.dispatch(to, "message")
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
        return removed

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
