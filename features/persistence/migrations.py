"""Versioned schema migrations: each feature owns its tables and the steps that build them.

A feature declares ``Migration(owner="signaling", version=1, sql="CREATE TABLE ...")`` (or
``apply=fn``, a function of the connection, for work SQL alone cannot do). Features cannot import
this module (they are independent packages), so the service also takes any object with the same
attributes, or a mapping with the same keys. Each step runs in its own transaction together with
the row that records it in ``persistence_migrations``: a step is applied exactly once or not at
all. A database that is newer than the code (an applied version the code does not know) is
refused before anything runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DowngradeError, MigrationError

__all__ = ["MIGRATIONS_TABLE", "Migration", "apply_pending", "check_unique", "coerce", "plan"]

MIGRATIONS_TABLE = "persistence_migrations"
_OWNER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CREATE = (f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (owner TEXT NOT NULL, version INTEGER NOT NULL, "
           "description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT "
           "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (owner, version))")


@dataclass(frozen=True)
class Migration:
    """One step of one feature's schema; exactly one of ``sql`` and ``apply`` is given."""

    owner: str
    version: int
    sql: str | None = None
    apply: Callable[[Any], None] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.owner, str) or not _OWNER.match(self.owner):
            raise MigrationError(str(self.owner), None, "owner must be a feature id (lower case letters, digits, _)")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise MigrationError(self.owner, None, f"version must be an integer >= 1, got {self.version!r}")
        if (self.sql is None) == (self.apply is None):
            raise MigrationError(self.owner, self.version, "give exactly one of sql= and apply=")
        if self.sql is not None and not isinstance(self.sql, str):
            raise MigrationError(self.owner, self.version, f"sql must be a string, got {type(self.sql).__name__}")
        if self.apply is not None and not callable(self.apply):
            raise MigrationError(self.owner, self.version, "apply must be callable")

    @property
    def checksum(self) -> str:
        """Of the SQL (or the function's qualified name): recorded, to spot a step edited after release."""
        text = self.sql if self.sql is not None else getattr(self.apply, "__qualname__", repr(self.apply))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def coerce(item: Any) -> Migration:
    """A :class:`Migration` from one, from an object with its attributes, or from a mapping."""
    if isinstance(item, Migration):
        return item
    if isinstance(item, Mapping):
        fields = dict(item)
    else:
        fields = {name: getattr(item, name) for name in ("owner", "version", "sql", "apply", "description")
                  if hasattr(item, name)}
    unknown = sorted(set(fields) - {"owner", "version", "sql", "apply", "description"})
    if unknown or "owner" not in fields or "version" not in fields:
        raise MigrationError(str(fields.get("owner", "?")), None,
                             f"not a migration: needs owner and version and sql or apply (got {item!r})")
    return Migration(**fields)


def check_unique(migrations: Iterable[Migration]) -> None:
    seen: dict[tuple[str, int], Migration] = {}
    for m in migrations:
        other = seen.setdefault((m.owner, m.version), m)
        if other is not m and other != m:
            raise MigrationError(m.owner, m.version, "declared twice, differently")


def plan(applied: Mapping[str, set[int]], migrations: Iterable[Migration]) -> list[Migration]:
    """The steps still to run, in order (owners in first-declared order, versions ascending), or
    an error if the database is newer than the code or a step was inserted below applied ones."""
    by_owner: dict[str, dict[int, Migration]] = {}
    for m in migrations:
        by_owner.setdefault(m.owner, {})[m.version] = m
    for owner, steps in by_owner.items():
        done = applied.get(owner, set())
        if done and max(done) > max(steps):
            raise DowngradeError(owner, max(done), max(steps))
    pending: list[Migration] = []
    for owner, steps in by_owner.items():
        done = applied.get(owner, set())
        top = max(done, default=0)
        for version in sorted(steps):
            if version in done:
                continue
            if version < top:
                raise MigrationError(owner, version, f"is not applied but version {top} is; a new step must come "
                                                     "after every released one")
            pending.append(steps[version])
    return pending


def _applied(db: Any) -> dict[str, set[int]]:
    done: dict[str, set[int]] = {}
    for owner, version in db.execute(f"SELECT owner, version FROM {MIGRATIONS_TABLE}"):
        done.setdefault(owner, set()).add(int(version))
    return done


def apply_pending(db: Any, migrations: list[Migration], split: Callable[[str], list[str]],
                  on_error: Callable[[BaseException], BaseException]) -> list[tuple[str, int]]:
    """Run on the database thread: create the record table, then every pending step, each in
    its own ``BEGIN IMMEDIATE`` transaction. Returns the (owner, version) pairs applied."""
    db.execute(_CREATE)
    db.execute("BEGIN IMMEDIATE")  # read the record under the write lock: two openers cannot both apply
    try:
        pending = plan(_applied(db), migrations)
    finally:
        db.execute("ROLLBACK")
    done: list[tuple[str, int]] = []
    for m in pending:
        db.execute("BEGIN IMMEDIATE")
        try:
            if _applied(db).get(m.owner, set()) & {m.version}:
                db.execute("ROLLBACK")  # applied meanwhile by another connection
                continue
            if m.sql is not None:
                for statement in split(m.sql):
                    db.execute(statement)
            else:
                assert m.apply is not None
                m.apply(db)
            db.execute(f"INSERT INTO {MIGRATIONS_TABLE} (owner, version, description, checksum) VALUES (?, ?, ?, ?)",
                       (m.owner, m.version, m.description, m.checksum))
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, MigrationError):
                raise
            reason = getattr(on_error(exc), "reason", None) or f"{type(exc).__name__}: {exc}"
            raise MigrationError(m.owner, m.version, f"failed and was rolled back: {reason}") from None
        done.append((m.owner, m.version))
    return done
