"""PersistenceService on real SQLCipher files: opening, the pragmas, encryption at rest, and
each way a profile database can refuse to open (wrong key, damage, a lock), which never touches
the file."""

from __future__ import annotations

import os
import sqlite3

import pytest

from features.persistence import errors
from features.persistence._sqlcipher import DB_NAME, KEYCHECK_NAME
from features.persistence.service import PersistenceService, default_profiles_dir

pytestmark = pytest.mark.anyio

MARKER = "PLAINTEXT-MARKER-7f3a9c"


def raw_bytes(directory) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.name.startswith(DB_NAME))


async def test_open_creates_the_profile_and_close_locks_it(make_service, key, config):
    seen = []
    s = make_service(listener=lambda name, info: seen.append((name, info)))
    assert s.state == "closed" and not s.is_open
    assert await s.open(key, "alice") is True
    assert s.state == "open" and s.profile == "alice"
    assert s.path == s.profiles_dir / "alice" / "chat.db" and s.path.exists()
    assert s.size() > 0
    assert oct(s.path.stat().st_mode & 0o777) == "0o600"
    await s.close()
    assert s.state == "closed"
    assert [n for n, _ in seen] == ["OPENING", "OPENED", "LOCKING", "LOCKED"]
    assert seen[1][1] == {"profile": "alice", "created": True, "migrations_applied": 0}
    assert await s.open(key, "alice") is False  # the same file, opened again
    await s.close()


async def test_wal_foreign_keys_and_secure_delete_are_on(service):
    assert await service.fetchone("PRAGMA journal_mode") == ("wal",)
    assert await service.fetchone("PRAGMA foreign_keys") == (1,)
    assert await service.fetchone("PRAGMA secure_delete") == (1,)
    assert (await service.fetchone("PRAGMA cipher_version"))[0].startswith("4.")


async def test_foreign_keys_are_enforced(service):
    await service.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await service.execute("CREATE TABLE child (parent INTEGER NOT NULL REFERENCES parent(id))")
    with pytest.raises(errors.ConstraintError) as caught:
        await service.execute("INSERT INTO child VALUES (42)")
    assert "FOREIGN KEY" in caught.value.reason


async def test_the_file_is_unreadable_without_the_key(service):
    await service.execute("CREATE TABLE note (body TEXT)")
    await service.execute("INSERT INTO note VALUES (?)", (MARKER,))
    directory = service.path.parent
    assert (directory / "chat.db-wal").stat().st_size > 0  # the row is in the WAL, not yet checkpointed
    assert MARKER.encode() not in raw_bytes(directory)
    await service.close()
    assert MARKER.encode() not in raw_bytes(directory)
    assert not raw_bytes(directory).startswith(b"SQLite format 3")
    plain = sqlite3.connect(directory / DB_NAME)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
            plain.execute("SELECT * FROM sqlite_master").fetchall()
    finally:
        plain.close()


async def test_a_wrong_key_is_refused_and_the_file_is_untouched(make_service, service, key):
    await service.execute("CREATE TABLE note (body TEXT)")
    await service.close()
    before = service.path.read_bytes()
    other = make_service()
    with pytest.raises(errors.WrongKeyError) as caught:
        await other.open(os.urandom(32), "alice")
    assert caught.value.kind == "wrong_key" and caught.value.profile == "alice"
    assert str(caught.value) == f"profile 'alice' ({other.path}): the key does not unlock this profile"
    assert other.state == "error" and isinstance(other.last_error, errors.WrongKeyError)
    assert service.path.read_bytes() == before
    await other.open(key, "alice")  # the right key still opens it
    assert await other.fetchall("SELECT name FROM sqlite_master WHERE name = 'note'") == [("note",)]


async def test_a_wrong_key_without_a_key_check_file_is_still_a_wrong_key(make_service, service):
    await service.close()
    (service.path.parent / KEYCHECK_NAME).unlink()
    with pytest.raises(errors.WrongKeyError, match="does not decrypt it"):
        await make_service().open(os.urandom(32), "alice")


async def test_the_key_never_shows(make_service, key, caplog):
    seen = []
    s = make_service(listener=lambda name, info: seen.append(info))
    await s.open(key, "alice")
    shown = repr(s) + repr(seen) + caplog.text + str(s.last_error)
    async with s.transaction() as tx:
        shown += repr(tx)
    assert key.hex() not in shown and key.hex().upper() not in shown


@pytest.mark.parametrize("bad", [b"short", "a" * 32, 32])
async def test_a_key_must_be_32_raw_bytes(make_service, bad):
    s = make_service()
    with pytest.raises(errors.InvalidKeyError, match="expected 32"):
        await s.open(bad, "alice")
    assert s.state == "closed" and not s.profiles_dir.exists()


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b", "x" * 65, 42])
async def test_a_profile_name_cannot_leave_the_profiles_directory(make_service, key, name):
    s = make_service()
    with pytest.raises(errors.InvalidProfileError):
        await s.open(key, name)
    assert not s.profiles_dir.exists()


async def test_garbage_bytes_are_a_corrupt_file_and_stay_in_place(make_service, service, key):
    await service.close()
    garbage = os.urandom(8192)
    service.path.write_bytes(garbage)
    for name in ("chat.db-wal", "chat.db-shm"):
        (service.path.parent / name).unlink(missing_ok=True)
    s = make_service()
    with pytest.raises(errors.CorruptDatabaseError) as caught:
        await s.open(key, "alice")
    assert caught.value.kind == "corrupt" and "damaged" in caught.value.reason
    assert service.path.read_bytes() == garbage


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"SQLite format 3\x00" + bytes(4080), "unencrypted")])
async def test_an_empty_or_plain_file_is_refused_not_reset(make_service, key, content, reason):
    s = make_service()
    directory = s.profiles_dir / "bob"
    directory.mkdir(parents=True)
    (directory / DB_NAME).write_bytes(content)
    with pytest.raises(errors.CorruptDatabaseError, match=reason):
        await s.open(key, "bob")
    assert (directory / DB_NAME).read_bytes() == content


async def test_a_damaged_key_check_file_is_reported(make_service, service, key):
    await service.close()
    (service.path.parent / KEYCHECK_NAME).write_text("{not json")
    with pytest.raises(errors.CorruptDatabaseError, match="key check file is damaged"):
        await make_service().open(key, "alice")


async def test_a_database_locked_by_another_connection_is_reported(make_service, service, key):
    await service.execute("CREATE TABLE note (body TEXT)")
    await service.close()
    from sqlcipher3 import dbapi2

    holder = dbapi2.connect(str(service.path), isolation_level=None)
    holder.execute("PRAGMA cipher_log_level = NONE")
    holder.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO note VALUES ('held')")
    try:
        s = make_service()
        with pytest.raises(errors.DatabaseLockedError) as caught:
            await s.open(key, "alice")
        assert caught.value.kind == "locked" and "another connection holds a lock" in caught.value.reason
        assert s.state == "error"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    s2 = make_service()
    await s2.open(key, "alice")
    assert await s2.fetchall("SELECT * FROM note") == []


async def test_using_a_closed_service_says_so(make_service):
    s = make_service()
    with pytest.raises(errors.NotOpenError, match="cannot query: no profile database is open"):
        await s.fetchall("SELECT 1")
    with pytest.raises(errors.NotOpenError):
        async with s.transaction():
            pass  # pragma: no cover


async def test_opening_twice_is_refused(service, key):
    with pytest.raises(errors.AlreadyOpenError, match="already open"):
        await service.open(key, "bob")
    assert service.profile == "alice" and service.is_open


async def test_a_failed_statement_is_a_query_error(service):
    with pytest.raises(errors.QueryError, match="no such table: nowhere") as caught:
        await service.fetchall("SELECT * FROM nowhere")
    assert caught.value.kind == "query"
    assert await service.fetchone("SELECT 1") == (1,)  # still usable


async def test_profiles_are_separate_databases(make_service, key):
    a, b = make_service(), make_service()
    await a.open(key, "alice")
    await b.open(os.urandom(32), "bob")
    await a.execute("CREATE TABLE only_alice (x)")
    assert await b.fetchall("SELECT name FROM sqlite_master WHERE name = 'only_alice'") == []
    assert a.path.parent != b.path.parent


def test_the_default_profiles_directory_is_the_user_data_directory():
    import platformdirs

    assert default_profiles_dir() == platformdirs.user_data_path("chatkernel") / "profiles"
    assert PersistenceService().profiles_dir == default_profiles_dir()
