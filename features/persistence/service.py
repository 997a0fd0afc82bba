"""One profile's encrypted database, reached only through its own thread.

The service is the single owner of the connection. Every call runs on the database thread and
is awaited, so the kernel's loop never waits on the disk. An ``asyncio.Lock`` gives one caller
at a time the connection: a transaction holds it from its block's start (``BEGIN IMMEDIATE``
runs with its first statement) to ``COMMIT`` (or ``ROLLBACK``), so work from other tasks cannot
slip into it. Lifecycle changes are reported to
``listener`` (the feature's machine), which turns them into events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._config import PersistenceConfig
from ._sqlcipher import DB_NAME, KEY_BYTES, map_error, open_database, rekey_database, split_statements
from ._thread import DBThread
from .errors import (
    AlreadyOpenError,
    InvalidKeyError,
    InvalidProfileError,
    NotOpenError,
    PersistenceError,
    TransactionError,
)
from .migrations import Migration, apply_pending, check_unique, coerce

__all__ = ["PersistenceService", "Transaction", "default_profiles_dir"]

T = TypeVar("T")
Params = Sequence[Any] | Mapping[str, Any]
Listener = Callable[[str, dict[str, Any]], None]
_log = logging.getLogger("chatkernel.features.persistence")
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_profiles_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("chatkernel")) / "profiles"


def check_profile(profile: object) -> str:
    if not isinstance(profile, str) or not _PROFILE.match(profile):
        raise InvalidProfileError(profile, "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return profile


def _as_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise InvalidKeyError(f"expected {KEY_BYTES} raw bytes, got {type(key).__name__}")
    raw = bytes(key)
    if len(raw) != KEY_BYTES:
        raise InvalidKeyError(f"expected {KEY_BYTES} bytes, got {len(raw)}")
    return raw


class Transaction:
    """Statements inside one open transaction; valid only inside its ``async with`` block."""

    def __init__(self, service: PersistenceService, db: Any):
        self._service = service
        self._db = db
        self.closed = False
        self.begun = False  # BEGIN IMMEDIATE goes with the first statement: one trip to the thread less
        self._writes: list[tuple[str, Params]] = []

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.closed:
            raise TransactionError("used after its block ended")
        begin, writes = not self.begun, self._writes
        if begin or writes:
            self.begun, self._writes = True, []
            return await self._service._call(_prepared, self._db, begin, writes, fn, args)
        return await self._service._call(fn, *args)

    def write(self, sql: str, params: Params = ()) -> None:
        """A statement whose result nobody reads: it runs on the database thread just before
        this transaction's next statement, or with its COMMIT, without a trip of its own. Its
        error (a constraint, say) is raised there, and the whole transaction is rolled back."""
        if self.closed:
            raise TransactionError("used after its block ended")
        self._writes.append((sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        return await self._run(lambda: self._db.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        return await self._run(lambda: self._db.executemany(sql, rows).rowcount)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return await self._run(lambda: [tuple(r) for r in self._db.execute(sql, params).fetchall()])

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        return await self._run(lambda: _one(self._db.execute(sql, params).fetchone()))

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(connection, *args)`` on the database thread, inside this transaction."""
        return await self._run(_plain(fn), self._db, *args)

    def __repr__(self) -> str:
        return f"Transaction(profile={self._service.profile!r}, closed={self.closed})"


def _plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` runs on the database thread, where nothing would await a coroutine."""
    if inspect.iscoroutinefunction(fn):
        raise TransactionError(f"{getattr(fn, '__qualname__', fn)!s} is async; a function run on the database "
                               "thread must be a plain def (await the transaction's methods instead)")
    return fn


def _one(row: Any) -> tuple[Any, ...] | None:
    return tuple(row) if row is not None else None


class PersistenceService:
    """``open(key, profile)``, ``close()``, migrations, transactions and plain statements."""

    def __init__(self, config: PersistenceConfig | None = None, *, listener: Listener | None = None):
        self.config = config or PersistenceConfig()
        check_profile(self.config.default_profile)
        timeout = self.config.busy_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise PersistenceError(f"busy_timeout_s must be a number of seconds >= 0, got {timeout!r}")
        self.profiles_dir = (Path(self.config.profiles_dir).expanduser() if self.config.profiles_dir
                             else default_profiles_dir())
        self.listener = listener
        self.state = "closed"
        self.profile: str | None = None
        self.last_error: PersistenceError | None = None
        self._db: Any = None
        self._thread: DBThread | None = None
        self._lock = asyncio.Lock()
        self._lifecycle = asyncio.Lock()
        self._tx_task: asyncio.Task[Any] | None = None
        self._migrations: list[Migration] = []

    # ------------------------------------------------------------------ where
    def directory(self, profile: str | None = None) -> Path:
        if profile is None:
            profile = self.profile or self.config.default_profile
        return self.profiles_dir / check_profile(profile)

    @property
    def path(self) -> Path:
        """The database file of the open profile (or of the default one)."""
        return self.directory() / DB_NAME

    def size(self) -> int:
        """Bytes on disk: the database, its WAL and shared-memory files."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += self.path.with_name(DB_NAME + suffix).stat().st_size
        return total

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    # ------------------------------------------------------------------ lifecycle
    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    async def open(self, key: bytes, profile: str | None = None) -> bool:
        """Open (creating if new) ``profile`` with the 32-byte raw ``key``; run registered
        migrations. True if the database was created. Errors leave the file untouched."""
        raw = _as_key(key)
        name = check_profile(self.config.default_profile if profile is None else profile)
        async with self._lifecycle:
            if self.state == "open":
                raise AlreadyOpenError(self.profile or name)
            self.state, self.profile, self.last_error = "opening", name, None
            self._notify("OPENING", profile=name)
            thread = DBThread(f"persistence-{name}")
            thread.start()
            try:
                opened = await thread.run(functools.partial(open_database, self.directory(name), name, raw,
                                                            busy_timeout_s=float(self.config.busy_timeout_s)))
                self._db, self._thread = opened.connection, thread
                applied = await self._call(self._apply_migrations, list(self._migrations))
            except BaseException as exc:
                await self._teardown(thread)
                error = exc if isinstance(exc, PersistenceError) else PersistenceError(
                    f"opening profile {name!r} failed: {type(exc).__name__}: {exc}")
                self.state, self.last_error = "error", error
                self._notify("FAILED", profile=name, kind=error.kind, reason=getattr(error, "reason", str(error)))
                if isinstance(exc, PersistenceError) or not isinstance(exc, Exception):
                    raise
                raise error from None
            self.state = "open"
            self._notify("OPENED", profile=name, created=opened.created, migrations_applied=len(applied))
            return opened.created

    async def close(self) -> None:
        """Lock the profile: wait for the transaction in flight, checkpoint the WAL, close."""
        async with self._lifecycle:
            if self.state == "closed":
                return
            if self.state != "open":  # error: nothing is open, just leave the error state
                self.state, self.last_error = "closed", None
                self._notify("LOCKED", profile=self.profile)
                return
            self.state = "locking"
            self._notify("LOCKING", profile=self.profile)
            async with self._lock:
                await self._teardown(self._thread)
            self.state = "closed"
            self._notify("LOCKED", profile=self.profile)

    async def _teardown(self, thread: DBThread | None) -> None:
        if thread is None:
            return
        db, self._db, self._thread = self._db, None, None
        if db is not None:
            with contextlib.suppress(Exception):
                await thread.run(_close_connection, db)
        await thread.stop()

    async def rekey(self, new_key: bytes) -> None:
        """Re-encrypt the open database under the 32-byte raw ``new_key`` and rewrite the key
        check file, crash-safely (see ``_sqlcipher``). Outside any transaction: while a
        ``transaction()`` block is open this raises :class:`TransactionError` (it does not wait).
        On return the next open needs ``new_key`` (the previous key is a :class:`WrongKeyError`);
        if it raises, the database is still under the previous key and fully usable."""
        raw = _as_key(new_key)
        self._check_not_nested("re-key")
        if self._tx_task is not None:
            raise TransactionError("cannot re-key while a transaction is in flight; re-key between transactions")
        async with self._lifecycle:
            async with self._guard("re-key") as db:
                profile = self.profile or "?"
                await self._call(functools.partial(rekey_database, db, self.directory(), profile, raw, log=_log))
        _log.info("profile %r re-keyed", profile)

    # ------------------------------------------------------------------ migrations
    def add_migrations(self, migrations: Iterable[Any]) -> None:
        """Register steps (run at the next open, or now with :meth:`migrate`)."""
        steps = [coerce(m) for m in migrations]
        check_unique([*self._migrations, *steps])
        self._migrations += [m for m in steps if m not in self._migrations]

    async def migrate(self, migrations: Iterable[Any] = ()) -> list[tuple[str, int]]:
        """Register ``migrations`` and apply every pending step now; the (owner, version) applied."""
        self.add_migrations(migrations)
        async with self._guard("migrate"):
            return await self._call(self._apply_migrations, list(self._migrations))

    def _apply_migrations(self, migrations: list[Migration]) -> list[tuple[str, int]]:
        return apply_pending(self._db, migrations, split_statements, self._map)

    # ------------------------------------------------------------------ transactions
    def _check_not_nested(self, operation: str) -> None:
        if self._tx_task is not None and self._tx_task is asyncio.current_task():
            raise TransactionError(f"{operation} inside an open transaction of the same task would wait for "
                                   "itself; use the transaction's own methods")

    @contextlib.asynccontextmanager
    async def _guard(self, operation: str) -> AsyncIterator[Any]:
        self._check_not_nested(operation)
        async with self._lock:
            if self.state != "open" or self._db is None:
                raise NotOpenError(operation)
            yield self._db

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``async with service.transaction() as tx``: everything in the block commits together,
        or, if the block raises (or is cancelled), nothing of it is kept."""
        async with self._guard("start a transaction") as db:
            tx = Transaction(self, db)
            self._tx_task = asyncio.current_task()
            try:
                yield tx
            except BaseException:
                tx.closed = True
                if tx.begun:  # writes not yet run are dropped with the rest
                    await self._finish(_rollback, db)
                raise
            else:
                tx.closed = True
                if tx.begun or tx._writes:  # a block that ran no statement has nothing to commit
                    await self._finish(functools.partial(_commit_with, begin=not tx.begun, writes=tx._writes), db)
            finally:
                self._tx_task = None

    async def _finish(self, fn: Callable[[Any], None], db: Any) -> None:
        """Queued before the lock is released (the thread is FIFO), and shielded: a cancelled
        caller cannot leave the transaction open for the next one."""
        assert self._thread is not None
        job = self._thread.submit(fn, db)
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await job
            raise
        except Exception as exc:
            raise self._map(exc) from None

    async def run_in_transaction(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(connection, *args)`` on the database thread inside one transaction: committed if
        it returns, rolled back if it raises (its exception is raised here)."""
        _plain(fn)
        async with self._guard("run a transaction") as db:
            return await self._call(_in_transaction, db, fn, args)

    # ------------------------------------------------------------------ single statements
    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""
        async with self._guard("execute") as db:
            return await self._call(lambda: db.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._guard("query") as db:
            return await self._call(lambda: [tuple(r) for r in db.execute(sql, params).fetchall()])

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        async with self._guard("query") as db:
            return await self._call(lambda: _one(db.execute(sql, params).fetchone()))

    # ------------------------------------------------------------------ plumbing
    def _map(self, exc: BaseException) -> BaseException:
        if type(exc).__module__.startswith("sqlcipher3"):
            return map_error(exc, profile=self.profile or "?", path=self.path)
        return exc

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            raise NotOpenError("use the database")
        try:
            return await self._thread.run(fn, *args)
        except PersistenceError:
            raise
        except Exception as exc:
            mapped = self._map(exc)
            if mapped is exc:
                raise
            raise mapped from None

    def __repr__(self) -> str:
        return f"PersistenceService(profile={self.profile!r}, state={self.state!r}, dir={str(self.profiles_dir)!r})"


def _commit(db: Any) -> None:
    try:
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _rollback(db: Any) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")


def _prepared(db: Any, begin: bool, writes: list[tuple[str, Params]], fn: Callable[..., T],
              args: tuple[Any, ...]) -> T:
    """The BEGIN and the deferred writes a statement brings with it, then the statement; if
    any of it raises, the block raises, and the rollback follows."""
    if begin:
        db.execute("BEGIN IMMEDIATE")
    for sql, params in writes:
        db.execute(sql, params)
    return fn(*args)


def _commit_with(db: Any, *, begin: bool, writes: list[tuple[str, Params]]) -> None:
    if begin:
        db.execute("BEGIN IMMEDIATE")
    try:
        for sql, params in writes:
            db.execute(sql, params)
    except BaseException:
        _rollback(db)
        raise
    _commit(db)


def _in_transaction(db: Any, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db, *args)
    except BaseException:
        _rollback(db)
        raise
    _commit(db)
    return result


def _close_connection(db: Any) -> None:
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the WAL back; stale frames do not linger
    finally:
        db.close()
