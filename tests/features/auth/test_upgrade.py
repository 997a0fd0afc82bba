"""Raising the Argon2 parameters of an existing profile: ``auth.json.next``, the database re-key,
the rename over ``auth.json``. Each step is made to fail (monkeypatched) and each crash point is
simulated: the passphrase always unlocks the profile afterwards, with its data, and the files end
up consistent (the old record with the old key, or the new record with the new key)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from features.auth import _profiles
from features.persistence import _sqlcipher

from .conftest import PASSPHRASE

pytestmark = pytest.mark.anyio
RAISED = 128


def _record(profiles_dir: Path) -> dict:
    return json.loads((profiles_dir / "alice" / "auth.json").read_bytes())


async def _signed_up(boot) -> tuple[str, dict]:
    first = await boot()
    user_id = await first.service.sign_up("alice", "Alice", PASSPHRASE)
    await first.persistence.execute("CREATE TABLE note (body TEXT)")
    await first.persistence.execute("INSERT INTO note VALUES ('kept')")
    await first.app.shutdown()
    return user_id, _record(first.profiles_dir)


async def _fresh_login(boot, user_id: str, **settings) -> dict:
    b = await boot(**settings)
    assert await b.service.log_in("alice", PASSPHRASE) == user_id
    assert await b.persistence.fetchall("SELECT body FROM note") == [("kept",)]
    record = _record(b.profiles_dir)
    await b.app.shutdown()
    return record


async def test_a_failed_next_record_write_keeps_the_old_record(boot, profiles_dir, monkeypatch):
    user_id, old = await _signed_up(boot)

    def fails(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_profiles, "write_next_record", fails)
    b = await boot(argon2_memory_kib=RAISED)
    assert await b.service.log_in("alice", PASSPHRASE) == user_id  # the login itself succeeds
    assert b.service.upgrade_pending == {"alice"}
    assert _record(profiles_dir) == old
    await b.app.shutdown()
    assert await _fresh_login(boot, user_id) == old  # old parameters, old record: still opens
    monkeypatch.undo()
    assert (await _fresh_login(boot, user_id, argon2_memory_kib=RAISED))["m"] == RAISED  # retried


@pytest.mark.parametrize("where", ["persistence", "sqlcipher"])
async def test_a_failed_rekey_keeps_the_old_record_and_key(boot, profiles_dir, monkeypatch, where):
    user_id, old = await _signed_up(boot)
    if where == "persistence":
        async def fails(self, new_key):
            raise RuntimeError("re-key refused")

        from features.persistence.service import PersistenceService

        monkeypatch.setattr(PersistenceService, "rekey", fails)
    else:
        monkeypatch.setattr(_sqlcipher, "_pragma_rekey", lambda db, key: db.execute("SELECT * FROM nowhere"))
    b = await boot(argon2_memory_kib=RAISED)
    assert await b.service.log_in("alice", PASSPHRASE) == user_id
    assert b.service.upgrade_pending == {"alice"}
    assert await b.persistence.fetchall("SELECT body FROM note") == [("kept",)]  # the session goes on
    assert _record(profiles_dir) == old
    assert not (profiles_dir / "alice" / "auth.json.next").exists()
    assert not (profiles_dir / "alice" / "chat.db.keycheck.next").exists()
    await b.app.shutdown()
    assert await _fresh_login(boot, user_id) == old
    monkeypatch.undo()
    assert (await _fresh_login(boot, user_id, argon2_memory_kib=RAISED))["m"] == RAISED


async def test_a_failed_final_rename_is_finished_by_the_next_login(boot, profiles_dir, monkeypatch):
    user_id, old = await _signed_up(boot)

    def fails(*_a):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_profiles, "promote_next_record", fails)
    b = await boot(argon2_memory_kib=RAISED)
    assert await b.service.log_in("alice", PASSPHRASE) == user_id
    assert b.service.upgrade_pending == {"alice"}
    assert _record(profiles_dir) == old  # not replaced, but the database is under the new key
    assert (profiles_dir / "alice" / "auth.json.next").exists()
    await b.app.shutdown()
    monkeypatch.undo()
    record = await _fresh_login(boot, user_id)  # old record refused by the database: the next one opens it
    assert record["m"] == RAISED and not (profiles_dir / "alice" / "auth.json.next").exists()
    assert await _fresh_login(boot, user_id) == record


@pytest.mark.parametrize("point", ["after_next_record", "after_rekey", "after_rekey_before_sidecar"])
async def test_a_crash_at_each_point_leaves_a_profile_that_opens(boot, profiles_dir, monkeypatch, point):
    """A crash is simulated by stopping the upgrade at ``point`` (an exception nobody catches
    there, like a kill) and then never running the cleanup: the files are as a dead process left them."""
    user_id, old = await _signed_up(boot)

    class Crash(BaseException):
        pass

    from features.auth import service as auth_service

    if point == "after_next_record":
        real = _profiles.write_next_record

        def write_then_die(directory, record):
            real(directory, record)
            raise Crash

        monkeypatch.setattr(_profiles, "write_next_record", write_then_die)
    elif point == "after_rekey":
        monkeypatch.setattr(_profiles, "promote_next_record", lambda directory: (_ for _ in ()).throw(Crash()))
    else:
        monkeypatch.setattr(_sqlcipher, "_promote", lambda *a: (_ for _ in ()).throw(Crash()))
        monkeypatch.setattr(_profiles, "promote_next_record", lambda directory: (_ for _ in ()).throw(Crash()))
    b = await boot(argon2_memory_kib=RAISED)
    with pytest.raises(BaseException):
        await b.service.log_in("alice", PASSPHRASE)
    assert (profiles_dir / "alice" / "auth.json.next").exists()
    assert _record(profiles_dir) == old
    # the dead process: its connection goes away without anything else being written
    await b.persistence._teardown(b.persistence._thread)
    b.persistence.state = "closed"
    monkeypatch.undo()
    assert auth_service.files is _profiles
    record = await _fresh_login(boot, user_id)
    expected_m = old["m"] if point == "after_next_record" else RAISED
    assert record["m"] == expected_m
    assert not (profiles_dir / "alice" / "auth.json.next").exists()
    assert not (profiles_dir / "alice" / "chat.db.keycheck.next").exists()
    assert (await _fresh_login(boot, user_id, argon2_memory_kib=RAISED))["m"] == RAISED


async def test_the_upgrade_logs_no_secret(boot, profiles_dir, caplog):
    caplog.set_level(logging.DEBUG)
    user_id, _ = await _signed_up(boot)
    b = await boot(argon2_memory_kib=RAISED)
    assert await b.service.log_in("alice", PASSPHRASE) == user_id
    assert "database re-keyed" in caplog.text and "re-keyed" in caplog.text
    assert PASSPHRASE not in caplog.text
    record = _record(profiles_dir)
    assert record["check"] not in caplog.text
