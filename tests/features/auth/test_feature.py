"""The auth feature booted with persistence and identity in strict mode: sign-up, log-out, log-in,
wrong passphrases, throttling, refusals that touch nothing, the session timeout, shutdown."""

from __future__ import annotations

import dataclasses
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import features.auth as auth_pkg
from features.auth import _unlock
from features.auth._config import AuthConfig
from features.auth.errors import (
    InvalidProfileNameError,
    LoginThrottledError,
    PassphrasePolicyError,
    ProfileAccessError,
    ProfileExistsError,
    SessionStateError,
    UnknownProfileError,
    WrongPassphraseError,
)

from .conftest import PASSPHRASE, WRONG, Clock, snapshot_files

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.anyio


def test_contract():
    f = auth_pkg.feature
    assert auth_pkg.__all__ == ["feature"]
    assert (f.id, f.version, f.dependencies) == ("auth", "1.0.0", ("persistence", "identity"))
    assert set(f.requires) == {"persistence", "identity"}
    assert f.emitted_types == ("AUTH_SUCCESS", "AUTH_FAILED", "AUTH_LOGOUT")
    assert list(f.ui) == ["LoginForm", "SignupForm"] and f.on_unmount is not None
    assert f.settings == AuthConfig() and dataclasses.is_dataclass(f.settings)


def test_importing_the_package_loads_the_heavy_parts_only_when_asked():
    probe = """
import sys, threading
before = threading.active_count()
import features.auth
heavy = [m for m in ("keyring", "cryptography", "ipywidgets", "sqlcipher3", "features.auth.service",
                     "features.auth.machine", "features.auth.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
assert features.auth.feature.ui["LoginForm"]().__name__ == "LoginForm"
assert features.auth.feature.ui["SignupForm"]().__name__ == "SignupForm"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


async def test_mounting_checks_the_session_and_waits(boot, profiles_dir):
    b = await boot()
    assert b.app.report.ok, b.app.report
    assert b.actor.state == ["unauthenticated"] and b.service.state == "unauthenticated"
    assert b.service.list_profiles() == [] and b.service.profiles_dir == profiles_dir
    assert b.persistence.state == "closed"


async def test_sign_up_log_out_log_in(boot, profiles_dir):
    b = await boot()
    user_id = await b.service.sign_up("alice", "Alice", PASSPHRASE)
    assert await b.wait_for("AUTH_SUCCESS") == {"profile": "alice", "user_id": user_id}
    await b.settle()
    assert b.actor.state == ["authenticated"] and b.actor.machine.user_id == user_id
    assert b.persistence.state == "open" and b.identity.user_id == user_id
    assert b.service.list_profiles() == ["alice"]
    record_path = profiles_dir / "alice" / "auth.json"
    record = json.loads(record_path.read_text())
    assert set(record) == {"v", "kdf", "m", "t", "p", "salt", "check"} and record["kdf"] == "argon2id"
    assert stat.S_IMODE(record_path.stat().st_mode) == 0o600
    assert (profiles_dir / "alice" / "chat.db").exists()

    b.actor.send("LOGOUT")
    assert await b.wait_for("AUTH_LOGOUT") == {"profile": "alice", "reason": "user"}
    await b.settle()
    assert b.actor.state == ["unauthenticated"] and b.persistence.state == "closed"
    assert b.identity.user_id is None and b.service.profile is None

    assert await b.service.log_in("alice", PASSPHRASE) == user_id
    assert await b.wait_for("AUTH_SUCCESS", 2) == {"profile": "alice", "user_id": user_id}
    assert await b.service.log_out() is True
    assert await b.service.log_out() is False  # nothing unlocked: nothing said
    await b.settle()
    assert len(b.of("AUTH_LOGOUT")) == 2


async def test_a_second_boot_logs_in_with_the_same_user_id(boot):
    first = await boot()
    user_id = await first.service.sign_up("alice", "Alice", PASSPHRASE)
    await first.app.shutdown()
    assert first.of("AUTH_LOGOUT")[-1] == {"profile": "alice", "reason": "shutdown"}
    second = await boot()
    assert second.service.list_profiles() == ["alice"]
    assert await second.service.log_in("alice", PASSPHRASE) == user_id


async def test_wrong_passphrases_rise_and_change_nothing_but_the_count(boot, profiles_dir):
    b = await boot()
    clock = Clock()
    b.service.clock = clock
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    before = snapshot_files(profiles_dir / "alice")
    delays = []
    for attempt in range(1, 5):
        with pytest.raises(WrongPassphraseError) as info:
            await b.service.log_in("alice", WRONG)
        delays.append(info.value.retry_after)
        failed = await b.wait_for("AUTH_FAILED", attempt)
        assert failed == {"profile": "alice", "reason": "wrong_passphrase", "retry_after_s": info.value.retry_after}
        clock.advance(info.value.retry_after)
    assert delays == [0.0, 1.0, 2.0, 4.0]
    assert snapshot_files(profiles_dir / "alice") == before  # auth.json, the database, its sidecars
    saved = json.loads((profiles_dir / "alice" / "auth.throttle.json").read_text())
    assert saved == {"v": 1, "failures": 4}
    await b.settle()
    assert b.actor.state == ["unauthenticated"] and b.persistence.state == "closed"
    assert b.actor.machine.last_failure["reason"] == "wrong_passphrase"

    # the right passphrase resets the count, on disk too
    await b.service.log_in("alice", PASSPHRASE)
    assert json.loads((profiles_dir / "alice" / "auth.throttle.json").read_text()) == {"v": 1, "failures": 0}


async def test_a_throttled_attempt_derives_nothing(boot, monkeypatch):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    for _ in range(2):
        with pytest.raises(WrongPassphraseError):
            await b.service.log_in("alice", WRONG)
    derived = []
    real = _unlock.derive_async

    async def counting(*args, **kw):
        derived.append(1)
        return await real(*args, **kw)

    monkeypatch.setattr(_unlock, "derive_async", counting)
    with pytest.raises(LoginThrottledError) as info:
        await b.service.log_in("alice", PASSPHRASE)  # even the right one waits
    assert derived == [] and info.value.retry_after > 0
    failed = await b.wait_for("AUTH_FAILED", 3)
    assert failed["reason"] == "throttled" and failed["retry_after_s"] > 0
    assert b.service.retry_after("alice") > 0


async def test_a_restart_never_shortens_the_delay(boot):
    first = await boot()
    await first.service.sign_up("alice", "Alice", PASSPHRASE)
    await first.service.log_out()
    for _ in range(3):
        first.service.clock = Clock(1000.0 + 100 * _)  # each attempt allowed
        with pytest.raises(WrongPassphraseError):
            await first.service.log_in("alice", WRONG)
    await first.app.shutdown()
    second = await boot()
    with pytest.raises(LoginThrottledError) as info:
        await second.service.log_in("alice", PASSPHRASE)
    assert info.value.retry_after == pytest.approx(2.0, abs=0.5)


async def test_sign_up_to_an_existing_profile_is_refused_and_touches_nothing(boot, profiles_dir):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    with pytest.raises(SessionStateError, match="log out first"):
        await b.service.sign_up("bob", "Bob", PASSPHRASE)
    await b.service.log_out()
    before = snapshot_files(profiles_dir / "alice")
    with pytest.raises(ProfileExistsError, match="already exists"):
        await b.service.sign_up("alice", "Mallory", "another long passphrase")
    assert (await b.wait_for("AUTH_FAILED"))["reason"] == "profile_exists"
    assert snapshot_files(profiles_dir / "alice") == before
    # a directory with anything in it is not ours to take either
    (profiles_dir / "carol").mkdir()
    (profiles_dir / "carol" / "notes.txt").write_text("mine")
    with pytest.raises(ProfileExistsError):
        await b.service.sign_up("carol", "Carol", PASSPHRASE)
    assert (profiles_dir / "carol" / "notes.txt").read_text() == "mine"


async def test_refusals_before_anything_is_written(boot, profiles_dir):
    b = await boot()
    with pytest.raises(PassphrasePolicyError) as info:
        await b.service.sign_up("alice", "Alice", "short")
    assert info.value.rule == "too_short"
    with pytest.raises(InvalidProfileNameError):
        await b.service.sign_up("../etc", "Alice", PASSPHRASE)
    with pytest.raises(UnknownProfileError):
        await b.service.log_in("nobody", PASSPHRASE)
    await b.settle()
    assert [p["reason"] for p in b.of("AUTH_FAILED")] == ["invalid_passphrase", "invalid_profile", "unknown_profile"]
    assert not (profiles_dir / "alice").exists() and not (profiles_dir.parent / "etc").exists()
    assert b.actor.state == ["unauthenticated"]


async def test_a_sign_up_that_fails_after_creating_the_database_leaves_no_trace(boot, profiles_dir):
    b = await boot()
    with pytest.raises(ProfileAccessError) as info:
        await b.service.sign_up("alice", "\u202e", PASSPHRASE)  # the identity refuses the name
    assert info.value.code == "identity_error"
    assert (await b.wait_for("AUTH_FAILED"))["reason"] == "identity_error"
    assert not (profiles_dir / "alice").exists()
    assert b.persistence.state == "closed" and b.service.state == "unauthenticated"
    assert await b.service.sign_up("alice", "Alice", PASSPHRASE)  # the name is free again


async def test_a_damaged_record_is_reported_and_left_alone(boot, profiles_dir):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    path = profiles_dir / "alice" / "auth.json"
    path.write_text('{"v": 1}')
    with pytest.raises(Exception, match="key-derivation record"):
        await b.service.log_in("alice", PASSPHRASE)
    assert (await b.wait_for("AUTH_FAILED"))["reason"] == "damaged_record"
    assert path.read_text() == '{"v": 1}'


async def test_the_session_times_out_when_idle(boot):
    b = await boot(session_timeout_s=0.2)
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    assert await b.wait_for("AUTH_LOGOUT") == {"profile": "alice", "reason": "timeout"}
    await b.settle()
    assert b.actor.state == ["unauthenticated"] and b.persistence.state == "closed"
    assert b.identity.user_id is None


async def test_raised_parameters_upgrade_the_record_and_rekey_the_database(boot, profiles_dir):
    first = await boot()
    user_id = await first.service.sign_up("alice", "Alice", PASSPHRASE)
    await first.app.shutdown()
    before = json.loads((profiles_dir / "alice" / "auth.json").read_bytes())
    second = await boot(argon2_memory_kib=128)
    assert await second.service.log_in("alice", PASSPHRASE) == user_id
    assert second.service.upgrade_pending == set()
    after = json.loads((profiles_dir / "alice" / "auth.json").read_bytes())
    assert after["m"] == 128 and before["m"] < 128 and after["salt"] != before["salt"]
    assert not (profiles_dir / "alice" / "auth.json.next").exists()
    assert not (profiles_dir / "alice" / "chat.db.keycheck.next").exists()
    await second.app.shutdown()
    third = await boot(argon2_memory_kib=128)
    assert await third.service.log_in("alice", PASSPHRASE) == user_id  # a fresh login with the new record
    assert json.loads((profiles_dir / "alice" / "auth.json").read_bytes()) == after  # nothing more to raise


async def test_one_login_at_a_time(boot):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    import asyncio

    results = await asyncio.gather(b.service.log_in("alice", PASSPHRASE), b.service.log_in("alice", PASSPHRASE),
                                   return_exceptions=True)
    assert isinstance(results[0], str) and isinstance(results[1], SessionStateError)


async def test_a_missing_database_is_refused_not_recreated(boot, profiles_dir):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    for name in ("chat.db", "chat.db-wal", "chat.db-shm"):
        (profiles_dir / "alice" / name).unlink(missing_ok=True)
    with pytest.raises(ProfileAccessError, match="missing"):
        await b.service.log_in("alice", PASSPHRASE)
    assert (await b.wait_for("AUTH_FAILED"))["reason"] == "storage_error"
    assert not (profiles_dir / "alice" / "chat.db").exists() and b.persistence.state == "closed"


async def test_the_machine_walks_the_seed_states(boot):
    b = await boot()
    seen = []
    b.app.actors.inspect(lambda r: seen.append(tuple(r.data["value"])) if r.actor == "auth"
                         and r.kind == "actor.snapshot" else None)
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.settle()
    b.actor.send("TOUCH")
    b.actor.send("LOGOUT")
    await b.wait_for("AUTH_LOGOUT")
    with pytest.raises(WrongPassphraseError):
        await b.service.log_in("alice", WRONG)
    await b.service.log_in("alice", PASSPHRASE)
    await b.settle()
    states = [s[0] for s in seen if s]
    compact = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert compact == ["signing_up", "authenticated", "logging_out", "unauthenticated", "logging_in",
                       "unauthenticated", "logging_in", "authenticated"]


async def test_runs_with_the_real_identity_feature_when_it_exists(boot):
    import features.identity

    b = await boot()
    real = getattr(features.identity, "feature", None)
    expected = "IdentityDouble" if real is None or b.app.registry.get("identity") is not real else "IdentityService"
    assert type(b.identity).__name__ == expected


async def test_a_damaged_failure_count_means_the_longest_delay_not_none(boot, profiles_dir):
    first = await boot()
    await first.service.sign_up("alice", "Alice", PASSPHRASE)
    await first.app.shutdown()
    (profiles_dir / "alice" / "auth.throttle.json").write_text("{not json")
    second = await boot(retry_delay_cap_s=30.0)
    with pytest.raises(LoginThrottledError) as info:
        await second.service.log_in("alice", PASSPHRASE)
    assert info.value.retry_after == pytest.approx(30.0, abs=1.0)
    assert (profiles_dir / "alice" / "auth.throttle.json").read_text() == "{not json"  # left for a person to see
