"""Opening a profile's SQLCipher database, on the database thread, and naming what went wrong.

SQLCipher answers "file is not a database" both for a wrong key and for a damaged file (an
encrypted file has no readable header). A small sidecar, ``chat.db.keycheck``, holds an HMAC of
a fixed label under the key (it reveals nothing a brute force could not learn from the database
itself), so the two are told apart: the key matches the sidecar but the file does not decrypt
-> corrupt; the key does not match -> wrong key. Nothing here ever writes over an existing file.
"""

from __future__ import annotations

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
    WrongKeyError,
)

__all__ = ["DB_NAME", "KEYCHECK_NAME", "KEY_BYTES", "Opened", "map_error", "open_database", "split_statements"]

DB_NAME = "chat.db"
KEYCHECK_NAME = "chat.db.keycheck"
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
    keycheck = _read_keycheck(check_path, profile)
    if keycheck is not None and not hmac.compare_digest(_mac(key, keycheck["salt"]), keycheck["mac"]):
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
        if keycheck is None:
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
