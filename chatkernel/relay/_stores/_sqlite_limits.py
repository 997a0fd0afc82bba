"""Rate limits shared by every relay process on one SQLite store (``--workers N``).

GCRA rows (:func:`_limiter.gcra`) live in a sidecar database next to the store's file
(``relay.db`` -> ``relay.db-limits``) with its own connection and thread, so a limiter write
never waits behind the mailbox's fsyncs, and the mailbox's writers never wait behind a flood
of limiter writes. ``synchronous=OFF``: losing limiter state in a crash only forgives the
clients for a moment. The clock is the host's wall clock (every worker is on one host); a
step back is absorbed by :func:`gcra`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from .._limiter import gcra
from ._sqlite_thread import SQLiteThread, immediate

__all__ = ["SQLiteLimits", "limits_path"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS gcra (key TEXT PRIMARY KEY, tat INTEGER NOT NULL) WITHOUT ROWID"
_PURGE_EVERY = 4096  # writes between sweeps of expired rows: the table holds recent keys only


def limits_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + "-limits")


def _now_us() -> int:
    return time.time_ns() // 1000


def _while_locked(db: sqlite3.Connection, sql: str, attempts: int = 100) -> None:
    """Run ``sql``, retrying while another process holds the lock: workers starting together
    all create and switch the new file to WAL, and that switch does not wait (no busy handler)."""
    for attempt in range(attempts):  # bounded: about 5 s
        try:
            db.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


class SQLiteLimits:
    """The sidecar database: one atomic GCRA step per :meth:`take`, across processes."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, clock_us: Callable[[], int] = _now_us):
        self.path = Path(path)
        self._clock_us = clock_us
        self._sql = SQLiteThread(self._connect, what="the SQLite rate-limit sidecar",
                                 thread_name="relay-sqlite-limits")
        self._writes = 0

    def __repr__(self) -> str:
        return f"SQLiteLimits({str(self.path)!r})"

    async def open(self) -> None:
        await self._sql.open()

    async def close(self) -> None:
        await self._sql.close()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")  # other workers hold the write lock briefly
            _while_locked(db, "PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            _while_locked(db, _SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    async def take(self, key: str, interval_us: int, tolerance_us: int) -> float | None:
        """Charge one request to ``key``: ``None`` if allowed, else seconds to wait."""
        wait = await self._sql.run(self._take, key, interval_us, tolerance_us)
        return wait / 1e6 or None

    def _take(self, key: str, interval_us: int, tolerance_us: int) -> int:
        with immediate(self._sql.db) as db:
            now = self._clock_us()  # read under the write lock, so TATs are charged in order
            row = db.execute("SELECT tat FROM gcra WHERE key = ?", (key,)).fetchone()
            tat, wait = gcra(None if row is None else row[0], now, interval_us, tolerance_us)
            if tat is not None:
                db.execute(
                    "INSERT INTO gcra (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                    (key, tat),
                )
                self._writes += 1
                if self._writes % _PURGE_EVERY == 0:
                    db.execute("DELETE FROM gcra WHERE tat <= ?", (now,))  # as good as absent
        return wait

    async def purge(self) -> int:
        """Delete every row whose TAT has passed; return how many went."""
        return await self._sql.run(self._purge)

    def _purge(self) -> int:
        return self._sql.db.execute("DELETE FROM gcra WHERE tat <= ?", (self._clock_us(),)).rowcount

    async def rows(self) -> int:
        """Keys currently tracked."""
        return await self._sql.run(self._rows)

    def _rows(self) -> int:
        return int(self._sql.db.execute("SELECT count(*) FROM gcra").fetchone()[0])
