"""A login without storage: success, wrong passphrase with a rising delay, throttling, the
parameter upgrade, and the loop staying responsive while Argon2id runs."""

from __future__ import annotations

import asyncio
import time

import pytest

from features.auth._kdf import DEFAULT_PARAMS, KdfParams, derive, verify
from features.auth._throttle import LoginThrottle
from features.auth._unlock import enrol, unlock
from features.auth.errors import LoginThrottledError, PassphrasePolicyError, WrongPassphraseError

from .conftest import FAST, FASTER_THAN_FAST

pytestmark = pytest.mark.anyio
PASS = "correct horse battery staple"


async def test_enrol_checks_the_policy_and_unlock_gives_the_same_key(clock):
    with pytest.raises(PassphrasePolicyError, match="use at least 12"):
        await enrol("short", params=FAST)
    new = await enrol(PASS, params=FAST)
    done = await unlock("default", PASS, new.record, LoginThrottle(), current=FAST, clock=clock)
    assert done.keys == new.keys and done.upgrade is None


async def test_a_wrong_passphrase_is_counted_and_delays_rise_then_reset(clock):
    new = await enrol(PASS, params=FAST)
    before = new.record.to_dict()
    throttle = LoginThrottle()
    delays = []
    for _ in range(4):
        with pytest.raises(WrongPassphraseError) as info:
            await unlock("default", "not it at all", new.record, throttle, current=FAST, clock=clock)
        delays.append(info.value.retry_after)
        assert info.value.profile == "default" and info.value.failures == len(delays)
        clock.advance(info.value.retry_after)
    assert delays == [0.0, 1.0, 2.0, 4.0]
    assert "wrong passphrase for profile 'default'; try again in 4 s" in str(info.value)
    assert "not it" not in repr(info.value.args) and "not it" not in str(info.value)
    assert new.record.to_dict() == before  # nothing lost or overwritten
    await unlock("default", PASS, new.record, throttle, current=FAST, clock=clock)
    assert throttle.failures == 0


async def test_an_early_attempt_is_refused_without_deriving(clock, monkeypatch):
    new = await enrol(PASS, params=FAST)
    throttle = LoginThrottle()
    for _ in range(3):
        throttle.record_failure(clock())
    calls = []
    monkeypatch.setattr("features.auth._unlock.derive_async", lambda *a: calls.append(a))
    with pytest.raises(LoginThrottledError) as info:
        await unlock("default", PASS, new.record, throttle, current=FAST, clock=clock)
    assert info.value.retry_after == 2.0 and calls == [] and throttle.failures == 3
    assert "try again in 2 s" in str(info.value)


async def test_parameters_below_the_current_ones_are_upgraded_on_success(clock):
    old = await enrol(PASS, params=FASTER_THAN_FAST)
    done = await unlock("default", PASS, old.record, LoginThrottle(), current=FAST, clock=clock)
    assert done.keys == old.keys  # the old key still opens the database, to re-key it
    upgrade = done.upgrade
    assert upgrade is not None and upgrade.record.params == FAST and upgrade.record.salt != old.record.salt
    assert upgrade.keys.db_key != old.keys.db_key
    assert verify(derive(PASS, FAST, upgrade.record.salt), upgrade.record)
    again = await unlock("default", PASS, upgrade.record, LoginThrottle(), current=FAST, clock=clock)
    assert again.upgrade is None and again.keys == upgrade.keys


async def test_a_failed_login_never_upgrades(clock):
    old = await enrol(PASS, params=FASTER_THAN_FAST)
    with pytest.raises(WrongPassphraseError):
        await unlock("default", "wrong passphrase!", old.record, LoginThrottle(), current=FAST, clock=clock)


async def test_the_loop_stays_responsive_while_argon2id_runs(clock):
    new = await enrol(PASS, params=KdfParams(16 * 1024, 2))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.002)
            ticks += 1

    task = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    await unlock("default", PASS, new.record, LoginThrottle(), current=KdfParams(16 * 1024, 2), clock=clock)
    elapsed = time.perf_counter() - t0
    task.cancel()
    assert elapsed > 0.005 and ticks >= 2  # the ticker ran during the derivation


def test_the_default_parameters_are_what_enrol_uses():
    assert enrol.__kwdefaults__["params"] == DEFAULT_PARAMS


async def test_results_show_no_secret(clock):
    old = await enrol(PASS, params=FASTER_THAN_FAST)
    done = await unlock("default", PASS, old.record, LoginThrottle(), current=FAST, clock=clock)
    text = repr(done) + repr(old) + str(done)
    for secret in (old.keys.db_key, old.keys.verifier, done.upgrade.keys.db_key, done.upgrade.record.verifier):
        assert secret.hex() not in text and repr(secret) not in text
    assert PASS not in text


def test_waits_are_rounded_up_in_messages():
    error = LoginThrottledError("p", retry_after=0.4)
    assert "try again in 1 s" in str(error) and error.retry_after == 0.4
    assert "try again now" in str(WrongPassphraseError("p", retry_after=0.0, failures=1))
