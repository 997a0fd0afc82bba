"""One SQLite connection owned by one thread, for the mailbox store and its limits sidecar.

Every call runs on that thread, so the event loop never blocks and the connection needs no
locks; SQLite errors come back as :class:`StoreError` (answered 503), never as tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._errors import StoreError

__all__ = ["SQLiteThread", "immediate"]

T = TypeVar("T")


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken at once (``BEGIN IMMEDIATE``), rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SQLiteThread:
    """``connect`` builds the connection on the thread at :meth:`open`; ``what`` names the
    owner in errors ("the SQLite store")."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, what: str, thread_name: str):
        self._connect = connect
        self._what = what
        self._thread_name = thread_name
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._executor is not None

    @property
    def db(self) -> sqlite3.Connection:
        """The connection; only for code already running on the thread."""
        assert self._db is not None, f"{self._what} used before open()"
        return self._db

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        try:
            await self.run(self._open_db)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_db(self) -> None:
        self._db = self._connect()

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self.run(self._close_db)
        finally:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError(f"{self._what} is not open", backend="sqlite")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))
        except sqlite3.Error as exc:
            raise StoreError(f"{self._what} failed: {exc}", backend="sqlite") from exc
