"""Errors of the persistence feature, one base class, each carrying structured fields::

    PersistenceError(ChatKernelError)                   kind
    ├── InvalidKeyError        the key is not 32 raw bytes     "invalid_key"   (reason; never the key)
    ├── InvalidProfileError    a profile name is refused       "invalid_profile" (profile, reason)
    ├── NotOpenError           the database is not open        "not_open"      (operation)
    ├── AlreadyOpenError       open() while a profile is open  "already_open"  (profile)
    ├── DatabaseAccessError    the file cannot be used          (profile, path, reason)
    │   ├── WrongKeyError          the key does not decrypt it  "wrong_key"
    │   ├── CorruptDatabaseError   it is damaged, or not ours   "corrupt"
    │   └── DatabaseLockedError    another connection holds it  "locked"
    ├── MigrationError         a migration failed (rolled back) "migration"   (owner, version, reason)
    │   └── DowngradeError         the database is newer than the code "downgrade" (db_version, code_version)
    ├── TransactionError       a transaction used wrongly       "transaction"  (reason)
    └── QueryError             a statement failed               "query"        (reason, code)
        └── ConstraintError        a UNIQUE / FOREIGN KEY / CHECK was violated "constraint"

``kind`` is what ``PERSISTENCE_ERROR`` carries. No error ever holds the key: messages and fields
are safe to log and to show. Every error that concerns the file is raised instead of resetting it.
"""

from __future__ import annotations

from pathlib import Path

from chatkernel import ChatKernelError

__all__ = [
    "AlreadyOpenError",
    "ConstraintError",
    "CorruptDatabaseError",
    "DatabaseAccessError",
    "DatabaseLockedError",
    "DowngradeError",
    "InvalidKeyError",
    "InvalidProfileError",
    "MigrationError",
    "NotOpenError",
    "PersistenceError",
    "QueryError",
    "TransactionError",
    "WrongKeyError",
]


class PersistenceError(ChatKernelError):
    """Base of every persistence error; ``kind`` names the failure in ``PERSISTENCE_ERROR``."""

    kind = "error"


class InvalidKeyError(PersistenceError):
    kind = "invalid_key"

    def __init__(self, reason: str):
        super().__init__(f"invalid database key: {reason}")
        self.reason = reason


class InvalidProfileError(PersistenceError):
    kind = "invalid_profile"

    def __init__(self, profile: object, reason: str):
        super().__init__(f"invalid profile name {profile!r}: {reason}")
        self.profile = profile
        self.reason = reason


class NotOpenError(PersistenceError):
    kind = "not_open"

    def __init__(self, operation: str):
        super().__init__(f"cannot {operation}: no profile database is open (open it with a key first)")
        self.operation = operation
        self.reason = "no profile database is open"


class AlreadyOpenError(PersistenceError):
    kind = "already_open"

    def __init__(self, profile: str):
        super().__init__(f"profile {profile!r} is already open; lock it before opening another")
        self.profile = profile
        self.reason = f"profile {profile!r} is already open"


class DatabaseAccessError(PersistenceError):
    """The profile's database file exists (or should) but cannot be used; it is left untouched."""

    def __init__(self, profile: str, path: Path, reason: str):
        super().__init__(f"profile {profile!r} ({path}): {reason}")
        self.profile = profile
        self.path = path
        self.reason = reason


class WrongKeyError(DatabaseAccessError):
    kind = "wrong_key"


class CorruptDatabaseError(DatabaseAccessError):
    kind = "corrupt"


class DatabaseLockedError(DatabaseAccessError):
    kind = "locked"


class MigrationError(PersistenceError):
    kind = "migration"

    def __init__(self, owner: str, version: int | None, reason: str):
        where = f"migration {owner}/{version}" if version is not None else f"migrations of {owner!r}"
        super().__init__(f"{where}: {reason}")
        self.owner = owner
        self.version = version
        self.reason = reason


class DowngradeError(MigrationError):
    """The database was written by newer code: running older code on it could damage it."""

    kind = "downgrade"

    def __init__(self, owner: str, db_version: int, code_version: int):
        super().__init__(owner, db_version, f"the database is at version {db_version} but this code knows only up "
                                            f"to {code_version}; refusing to downgrade (use the newer version)")
        self.db_version = db_version
        self.code_version = code_version


class TransactionError(PersistenceError):
    kind = "transaction"

    def __init__(self, reason: str):
        super().__init__(f"transaction: {reason}")
        self.reason = reason


class QueryError(PersistenceError):
    kind = "query"

    def __init__(self, reason: str, *, code: str | None = None):
        super().__init__(f"query failed: {reason}")
        self.reason = reason
        self.code = code


class ConstraintError(QueryError):
    kind = "constraint"
