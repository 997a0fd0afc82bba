"""The error hierarchy: one base, a distinct class (and ``kind``) per failure, no key anywhere."""

from __future__ import annotations

from pathlib import Path

from chatkernel import ChatKernelError

from features.persistence import errors


def test_every_error_shares_one_base_and_has_its_own_kind():
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(c, errors.PersistenceError) for c in classes)
    assert issubclass(errors.PersistenceError, ChatKernelError)
    kinds = [c.kind for c in classes if c not in (errors.PersistenceError, errors.DatabaseAccessError)]
    assert len(kinds) == len(set(kinds))


def test_the_three_ways_a_file_refuses_are_distinct():
    path = Path("/p/alice/chat.db")
    made = [cls("alice", path, "why") for cls in (errors.WrongKeyError, errors.CorruptDatabaseError,
                                                   errors.DatabaseLockedError)]
    assert [e.kind for e in made] == ["wrong_key", "corrupt", "locked"]
    assert all(isinstance(e, errors.DatabaseAccessError) for e in made)
    assert str(made[0]) == "profile 'alice' (/p/alice/chat.db): why"
    assert (made[1].profile, made[1].path, made[1].reason) == ("alice", path, "why")


def test_the_docstring_draws_every_class():
    for name in errors.__all__:
        assert name in errors.__doc__


def test_downgrade_is_a_migration_error_with_both_versions():
    e = errors.DowngradeError("chat", 3, 2)
    assert isinstance(e, errors.MigrationError) and (e.owner, e.version, e.db_version, e.code_version) == \
        ("chat", 3, 3, 2)
    assert str(e).startswith("migration chat/3: the database is at version 3 but this code knows only up to 2")
