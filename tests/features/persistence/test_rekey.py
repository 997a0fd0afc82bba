"""Re-keying the open database: the new key opens it, the old one is refused, the data stays, a
crash at any step leaves a database that opens (with the key of the last committed step), and it
is refused inside a transaction. Crashes are real: a child process dies with ``os._exit``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from features.persistence import _sqlcipher
from features.persistence._sqlcipher import KEYCHECK_NAME, KEYCHECK_NEXT_NAME
from features.persistence.errors import (DatabaseLockedError, InvalidKeyError, NotOpenError, PersistenceError,
                                         TransactionError, WrongKeyError)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]
TABLE = {"owner": "test", "version": 1, "sql": "CREATE TABLE item (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"}


async def _fill(service, rows: int = 300) -> list[tuple]:
    service.add_migrations([TABLE])
    await service.migrate()
    await service.run_in_transaction(lambda db: db.executemany(
        "INSERT INTO item (body) VALUES (?)", [(os.urandom(64),) for _ in range(rows)]))
    return await service.fetchall("SELECT id, body FROM item ORDER BY id")


async def test_the_new_key_opens_it_the_old_one_is_refused_and_the_data_stays(make_service, key):
    service = make_service()
    await service.open(key, "alice")
    before = await _fill(service)
    new = os.urandom(32)
    await service.rekey(new)
    assert await service.fetchall("SELECT id, body FROM item ORDER BY id") == before  # still usable
    await service.execute("INSERT INTO item (body) VALUES (x'00')")
    directory = service.directory()
    assert not (directory / KEYCHECK_NEXT_NAME).exists()
    await service.close()
    with pytest.raises(WrongKeyError):
        await service.open(key, "alice")
    await service.close()
    await service.open(new, "alice")
    assert (await service.fetchall("SELECT id, body FROM item ORDER BY id"))[:-1] == before
    assert await service.fetchone("PRAGMA integrity_check") == ("ok",)
    assert await service.fetchall("PRAGMA cipher_integrity_check") == []
    await service.close()
    assert os.stat(directory / KEYCHECK_NAME).st_mode & 0o777 == 0o600


async def test_rekey_twice_and_back(make_service, key):
    service = make_service()
    await service.open(key, "alice")
    before = await _fill(service, 10)
    second, third = os.urandom(32), os.urandom(32)
    await service.rekey(second)
    await service.rekey(third)
    await service.close()
    for old in (key, second):
        with pytest.raises(WrongKeyError):
            await service.open(old, "alice")
        await service.close()
    await service.open(third, "alice")
    assert await service.fetchall("SELECT id, body FROM item ORDER BY id") == before


async def test_refused_inside_a_transaction_and_when_not_open(make_service, key):
    service = make_service()
    with pytest.raises(NotOpenError):
        await service.rekey(os.urandom(32))
    await service.open(key, "alice")
    with pytest.raises(InvalidKeyError):
        await service.rekey(b"short")
    await _fill(service, 1)
    async with service.transaction() as tx:
        await tx.execute("INSERT INTO item (body) VALUES (x'01')")
        with pytest.raises(TransactionError):
            await service.rekey(os.urandom(32))
    import asyncio

    entered, release = asyncio.Event(), asyncio.Event()

    async def holder():
        async with service.transaction() as tx:
            await tx.execute("INSERT INTO item (body) VALUES (x'02')")
            entered.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    with pytest.raises(TransactionError, match="in flight"):
        await service.rekey(os.urandom(32))
    release.set()
    await task
    assert await service.fetchone("SELECT count(*) FROM item") == (3,)
    await service.close()
    await service.open(key, "alice")  # nothing changed
    assert not (service.directory() / KEYCHECK_NEXT_NAME).exists()


async def test_a_failed_rekey_leaves_the_old_key_working(make_service, key, monkeypatch):
    service = make_service()
    await service.open(key, "alice")
    before = await _fill(service, 20)

    def broken(db, new):
        db.execute("SELECT * FROM no_such_table")  # a real SQLite error, raised where the rekey runs

    monkeypatch.setattr(_sqlcipher, "_pragma_rekey", broken)
    with pytest.raises(PersistenceError):
        await service.rekey(os.urandom(32))
    assert not (service.directory() / KEYCHECK_NEXT_NAME).exists()
    assert await service.fetchall("SELECT id, body FROM item ORDER BY id") == before
    await service.close()
    await service.open(key, "alice")
    assert await service.fetchall("SELECT id, body FROM item ORDER BY id") == before


async def test_a_failed_sidecar_write_leaves_the_old_key_working(make_service, key, monkeypatch):
    service = make_service()
    await service.open(key, "alice")
    await _fill(service, 5)

    def no_space(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_sqlcipher, "write_atomic", no_space)
    with pytest.raises(PersistenceError, match="No space"):
        await service.rekey(os.urandom(32))
    monkeypatch.undo()
    await service.close()
    await service.open(key, "alice")
    assert await service.fetchone("SELECT count(*) FROM item") == (5,)


async def test_another_connection_makes_it_refuse(make_service, key):
    service = make_service()
    await service.open(key, "alice")
    await _fill(service, 5)
    from sqlcipher3 import dbapi2

    other = dbapi2.connect(str(service.path), isolation_level=None)
    other.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    other.execute("BEGIN")
    other.execute("SELECT count(*) FROM item").fetchone()  # a read snapshot pins the WAL
    try:
        with pytest.raises(DatabaseLockedError):
            await service.rekey(os.urandom(32))
    finally:
        other.execute("ROLLBACK")
        other.close()
    await service.close()
    await service.open(key, "alice")
    assert await service.fetchone("SELECT count(*) FROM item") == (5,)


async def test_a_failed_promotion_after_the_rekey_is_finished_by_the_next_open(make_service, key, monkeypatch):
    service = make_service()
    await service.open(key, "alice")
    await _fill(service, 5)
    new = os.urandom(32)

    def fails(*_a):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_sqlcipher, "_promote", fails)
    await service.rekey(new)  # the database is under the new key: this is a success
    monkeypatch.undo()
    directory = service.directory()
    assert (directory / KEYCHECK_NEXT_NAME).exists()
    await service.close()
    with pytest.raises(WrongKeyError, match="previous key"):
        await service.open(key, "alice")
    await service.close()
    await service.open(new, "alice")
    assert not (directory / KEYCHECK_NEXT_NAME).exists()
    assert await service.fetchone("SELECT count(*) FROM item") == (5,)


_CHILD = textwrap.dedent("""
    import asyncio, os, sys
    sys.path.insert(0, sys.argv[1])
    from features.persistence import _sqlcipher
    from features.persistence._config import PersistenceConfig
    from features.persistence.service import PersistenceService
    profiles, old, new, point = sys.argv[2], bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4]), sys.argv[5]
    real_rekey, real_promote, real_checkpoint = _sqlcipher._pragma_rekey, _sqlcipher._promote, _sqlcipher._checkpoint
    calls = []
    def die():
        os._exit(0)
    def rekey(db, key):
        if point == "before_rekey":
            die()
        real_rekey(db, key)
        if point == "after_rekey":
            die()
    def checkpoint(*a):
        calls.append(1)
        if point == "mid_second_checkpoint" and len(calls) == 2:
            a[0].execute("PRAGMA wal_checkpoint(PASSIVE)")
            die()
        real_checkpoint(*a)
    def promote(*a):
        if point == "before_promote":
            die()
        real_promote(*a)
    _sqlcipher._pragma_rekey, _sqlcipher._promote, _sqlcipher._checkpoint = rekey, promote, checkpoint
    async def main():
        s = PersistenceService(PersistenceConfig(profiles_dir=profiles))
        await s.open(old, "alice")
        await s.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body BLOB)")
        for i in range(200):
            await s.execute("INSERT INTO item (body) VALUES (?)", (bytes([i % 256]) * 100,))
        await s.rekey(new)
        os._exit(3)  # not reached
    asyncio.run(main())
""")

# point -> which key holds the database afterwards
CRASHES = {"before_rekey": "old", "after_rekey": "new", "mid_second_checkpoint": "new", "before_promote": "new"}


@pytest.mark.parametrize("point", sorted(CRASHES))
@pytest.mark.parametrize("wrong_first", [True, False])
async def test_a_crash_at_each_step_leaves_a_database_that_opens(make_service, config, point, wrong_first):
    old, new = os.urandom(32), os.urandom(32)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), config.profiles_dir, old.hex(), new.hex(), point],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    directory = Path(config.profiles_dir) / "alice"
    assert (directory / KEYCHECK_NEXT_NAME).exists()  # died with the pending sidecar in place
    right, wrong = (old, new) if CRASHES[point] == "old" else (new, old)
    service = make_service()
    if wrong_first:
        with pytest.raises(WrongKeyError):
            await service.open(wrong, "alice")
        await service.close()
        assert (directory / KEYCHECK_NEXT_NAME).exists()  # a refused key changes nothing
    await service.open(right, "alice")
    assert await service.fetchone("SELECT count(*) FROM item") == (200,)
    assert await service.fetchone("SELECT body FROM item WHERE id = 7") == (bytes([6]) * 100,)
    assert await service.fetchone("PRAGMA integrity_check") == ("ok",)
    assert not (directory / KEYCHECK_NEXT_NAME).exists()  # promoted, or removed as stale
    await service.close()
    with pytest.raises(WrongKeyError):
        await service.open(wrong, "alice")
    await service.close()
    await service.open(right, "alice")  # and again, now with one sidecar
    if CRASHES[point] == "old":  # the interrupted re-key can simply be done again
        await service.rekey(new)
        await service.close()
        await service.open(new, "alice")
        assert await service.fetchone("SELECT count(*) FROM item") == (200,)


async def test_nothing_secret_is_logged_or_raised(make_service, key, monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    service = make_service()
    await service.open(key, "alice")
    await _fill(service, 3)
    new = os.urandom(32)
    messages = []
    await service.rekey(new)
    monkeypatch.setattr(_sqlcipher, "_pragma_rekey", lambda db, k: db.execute(f"SELECT x'{k.hex()}' FROM nowhere"))
    try:
        await service.rekey(os.urandom(32))
    except PersistenceError as exc:
        messages.append(str(exc))
    monkeypatch.undo()
    await service.close()
    with pytest.raises(WrongKeyError) as refused:
        await service.open(key, "alice")
    messages.append(str(refused.value))
    out, err = capfd.readouterr()
    text = "\n".join([caplog.text, out, err, *messages, repr(service)])
    assert "re-keyed" in caplog.text
    for secret in (key, new):
        assert secret.hex() not in text.lower() and secret.hex().upper() not in text
    sidecar = (service.directory() / KEYCHECK_NAME).read_text()
    assert new.hex() not in sidecar and key.hex() not in sidecar
