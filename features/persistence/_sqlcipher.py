"""Opening a profile's SQLCipher database, on the database thread, and naming what went wrong.

SQLCipher answers "file is not a database" both for a wrong key and for a damaged file (an
encrypted file has no readable header). A small sidecar, ``chat.db.keycheck``, holds an HMAC of
a fixed label under the key (it reveals nothing a brute force could not learn from the database
itself), so the two are told apart: the key matches the sidecar but the file does not decrypt
-> corrupt; the key does not match -> wrong key. Nothing here ever writes over an existing database file.

Re-keying (:func:`rekey_database`) changes the key of the open database and of the sidecar.
Order: checkpoint the WAL (TRUNCATE; refused if another connection holds it), write the new key's
sidecar as ``chat.db.keycheck.next`` (temp file, fsync, rename, directory fsync), ``PRAGMA rekey``
(one transaction: its commit frame in the WAL is the switch), checkpoint again, then promote
``.next`` over ``chat.db.keycheck`` (rename, directory fsync). At open either sidecar is accepted:
a key that matches ``.next`` and decrypts the file promotes it (the process died after the rekey);
a key that matches the old sidecar and decrypts it removes the stale ``.next`` (it died before);
a key that matches a sidecar but does not decrypt while ``.next`` exists is the other key of an
interrupted re-key: :class:`WrongKeyError`, never "corrupt".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatkernel import write_atomic

from .errors import (
    ConstraintError,
    CorruptDatabaseError,
    DatabaseAccessError,
    DatabaseLockedError,
    PersistenceError,
    QueryError,
    TransactionError,
    WrongKeyError,
)

__all__ = ["DB_NAME", "KEYCHECK_NAME", "KEYCHECK_NEXT_NAME", "KEY_BYTES", "Opened", "map_error", "open_database",
           "rekey_database", "split_statements"]

DB_NAME = "chat.db"
KEYCHECK_NAME = "chat.db.keycheck"
KEYCHECK_NEXT_NAME = "chat.db.keycheck.next"
KEY_BYTES = 32
_LABEL = b"chatkernel.persistence.keycheck.v1"
_PLAIN_HEADER = b"SQLite format 3\x00"
# SQLite primary result codes (extended codes keep these in their low byte).
_BUSY, _LOCKED, _CORRUPT, _NOTADB, _CONSTRAINT = 5, 6, 11, 26, 19


@dataclass(frozen=True)
class Opened:
    connection: Any
    created: bool


def _dbapi() -> Any:
    from sqlcipher3 import dbapi2  # imported on the database thread, at first open

    return dbapi2


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def map_error(exc: BaseException, *, profile: str, path: Path) -> PersistenceError:
    """A SQLite error as one of ours, with the reason SQLite gave (never a traceback)."""
    code = _code(exc)
    reason = str(exc) or type(exc).__name__
    if code in (_BUSY, _LOCKED):
        return DatabaseLockedError(profile, path, f"{reason}: another connection holds a lock on it")
    if code in (_CORRUPT, _NOTADB):
        return CorruptDatabaseError(profile, path, f"{reason}: the file is damaged")
    name = getattr(exc, "sqlite_errorname", None)
    if code == _CONSTRAINT:
        return ConstraintError(reason, code=name)
    return QueryError(reason, code=name)


def _mac(key: bytes, salt: bytes) -> bytes:
    return hmac.new(key, _LABEL + salt, hashlib.sha256).digest()


def _read_keycheck(path: Path, profile: str) -> dict[str, bytes] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DatabaseAccessError(profile, path, f"cannot read the key check file: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
        if data.get("format") != 1:
            raise ValueError(f"format {data.get('format')!r}")
        return {"salt": bytes.fromhex(data["salt"]), "mac": bytes.fromhex(data["mac"])}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptDatabaseError(profile, path, f"the key check file is damaged ({exc})") from None


def _write_keycheck(path: Path, key: bytes) -> None:
    salt = secrets.token_bytes(16)
    body = json.dumps({"format": 1, "salt": salt.hex(), "mac": _mac(key, salt).hex()}).encode() + b"\n"
    write_atomic(path, body)
    os.chmod(path, 0o600)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _matches(key: bytes, keycheck: dict[str, bytes] | None) -> bool:
    return keycheck is not None and hmac.compare_digest(_mac(key, keycheck["salt"]), keycheck["mac"])


def _read_next(path: Path, profile: str) -> dict[str, bytes] | None:
    """The pending sidecar of an interrupted re-key; a damaged one is as good as none (it is only
    ever written whole, by rename)."""
    try:
        return _read_keycheck(path, profile)
    except CorruptDatabaseError:
        return None


def _check_file(db_path: Path, profile: str) -> bool:
    """True if the database file exists and looks like an encrypted database worth trying."""
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        raise CorruptDatabaseError(profile, db_path, "the database file is empty (0 bytes); it was left in place")
    with open(db_path, "rb") as f:
        head = f.read(len(_PLAIN_HEADER))
    if head == _PLAIN_HEADER:
        raise CorruptDatabaseError(profile, db_path, "this is a plain, unencrypted SQLite file, not a profile "
                                                     "database; it was left in place")
    return True


def open_database(directory: Path, profile: str, key: bytes, *, busy_timeout_s: float) -> Opened:
    """Open (or create) ``<directory>/chat.db`` with ``key``: WAL, foreign keys, secure delete."""
    db_path = directory / DB_NAME
    check_path = directory / KEYCHECK_NAME
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseAccessError(profile, db_path, f"cannot create the profile directory: "
                                                    f"{exc.strerror or exc}") from None
    next_path = directory / KEYCHECK_NEXT_NAME
    keycheck = _read_keycheck(check_path, profile)
    pending = _read_next(next_path, profile)
    via_next = pending is not None and _matches(key, pending) and not _matches(key, keycheck)
    if keycheck is not None and not via_next and not _matches(key, keycheck):
        raise WrongKeyError(profile, db_path, "the key does not unlock this profile")
    existed = _check_file(db_path, profile)
    dbapi = _dbapi()
    try:
        db = dbapi.connect(str(db_path), isolation_level=None, timeout=busy_timeout_s, check_same_thread=True)
    except dbapi.Error as exc:
        raise map_error(exc, profile=profile, path=db_path) from None
    try:
        db.execute("PRAGMA cipher_log_level = NONE")  # no "hmac check failed" lines on stderr
        db.execute(f"PRAGMA key = \"x'{key.hex()}'\"")  # a raw key: no passphrase derivation
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except dbapi.DatabaseError as exc:
            if _code(exc) == _NOTADB:
                if via_next:
                    raise WrongKeyError(profile, db_path, "a re-key to this key did not complete; the database "
                                                          "is still under the previous key") from None
                if pending is not None:
                    raise WrongKeyError(profile, db_path, "the database was re-keyed; this is the previous key"
                                        ) from None
                if keycheck is None:
                    raise WrongKeyError(profile, db_path, "the key does not decrypt it (or the file is damaged)"
                                        ) from None
                raise CorruptDatabaseError(profile, db_path, "the key is right but the file does not decrypt: it "
                                                             "is damaged; it was left in place") from None
            raise
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DatabaseAccessError(profile, db_path, f"cannot switch to WAL mode (journal mode is {mode})")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA synchronous = FULL")  # a ratchet step must survive a power cut
        if not existed:
            os.chmod(db_path, 0o600)
        if via_next:  # the process died after the rekey, before the sidecar was replaced
            os.replace(next_path, check_path)
            _fsync_dir(directory)
        elif next_path.exists():  # it died before the rekey committed: the pending sidecar is stale
            next_path.unlink()
            _fsync_dir(directory)
        if keycheck is None and not via_next:
            _write_keycheck(check_path, key)
    except PersistenceError:
        db.close()
        raise
    except dbapi.Error as exc:
        db.close()
        raise map_error(exc, profile=profile, path=db_path) from None
    except OSError as exc:
        db.close()
        raise DatabaseAccessError(profile, db_path, exc.strerror or str(exc)) from None
    return Opened(db, created=not existed)


def _checkpoint(db: Any, profile: str, db_path: Path) -> None:
    busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    if busy:
        raise DatabaseLockedError(profile, db_path, "another connection is using the database; it was not re-keyed")


def _pragma_rekey(db: Any, key: bytes) -> None:
    db.execute(f"PRAGMA rekey = \"x'{key.hex()}'\"").fetchall()


def _promote(next_path: Path, check_path: Path) -> None:
    os.replace(next_path, check_path)
    _fsync_dir(check_path.parent)


def rekey_database(db: Any, directory: Path, profile: str, key: bytes, *, log: Any = None) -> None:
    """Re-key the open connection ``db`` and its sidecar to ``key`` (order in the module doc).

    Raises only while the database is still under its previous key (the pending sidecar is then
    removed); once ``PRAGMA rekey`` has committed it returns, logging a failure of the remaining
    steps (the next open finishes them)."""
    db_path = directory / DB_NAME
    check_path = directory / KEYCHECK_NAME
    next_path = directory / KEYCHECK_NEXT_NAME
    dbapi = _dbapi()
    if db.in_transaction:
        raise TransactionError("cannot re-key inside a transaction")
    try:
        _checkpoint(db, profile, db_path)
        _write_keycheck(next_path, key)
        try:
            _pragma_rekey(db, key)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            with contextlib.suppress(OSError):
                next_path.unlink()
            raise
    except PersistenceError:
        raise
    except dbapi.Error as exc:
        raise map_error(exc, profile=profile, path=db_path) from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            next_path.unlink()
        raise DatabaseAccessError(profile, db_path, f"cannot write the key check file: {exc.strerror or exc}"
                                  ) from None
    # The database is under the new key from here on: nothing below may raise.
    try:
        _checkpoint(db, profile, db_path)  # the new pages into the main file, the WAL emptied
    except Exception as exc:  # noqa: BLE001 - the WAL holds them; the close checkpoints again
        if log is not None:
            log.warning("profile %r: checkpoint after the re-key failed: %s", profile, type(exc).__name__)
    try:
        _promote(next_path, check_path)
    except OSError as exc:
        if log is not None:
            log.warning("profile %r: the new key check file was not promoted (%s); the next open does it",
                        profile, exc.strerror or exc)


def split_statements(sql: str) -> list[str]:
    """``sql`` as complete statements, so a script runs inside the caller's transaction
    (``executescript`` would commit first)."""
    complete = _dbapi().complete_statement
    statements: list[str] = []
    buffer = ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if complete(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement: {buffer.strip()[:60]!r}")
    return statements
