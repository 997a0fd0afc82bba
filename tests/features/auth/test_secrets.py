"""Nothing secret in events, logs, inspection records, snapshots or reprs; remember-me unlocks a
profile at the session check only with a secure keyring."""

from __future__ import annotations

import logging

import pytest

import features.auth as auth_pkg

from .conftest import PASSPHRASE, WRONG

pytestmark = pytest.mark.anyio


async def test_no_secret_anywhere(boot, caplog):
    caplog.set_level(logging.DEBUG)
    b = await boot()
    records = []
    b.app.actors.inspect(records.append)
    signup, login = auth_pkg.feature.ui["SignupForm"]()(b.app), auth_pkg.feature.ui["LoginForm"]()(b.app)
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    with pytest.raises(Exception):
        await b.service.log_in("alice", WRONG)
    await b.service.log_in("alice", PASSPHRASE)
    await b.settle()
    secrets = [PASSPHRASE, WRONG]
    texts = [repr(e.payload) for e in b.events] + [r.getMessage() for r in caplog.records]
    texts += [repr(r) for r in records] + [repr(b.actor.snapshot()), repr(b.service), repr(b.actor.machine),
                                           repr(signup), repr(login), signup.message.value, login.message.value]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert all(set(e.payload) <= {"profile", "user_id", "reason", "retry_after_s"}
               for e in b.events if e.type.startswith("AUTH_"))
    signup.close()
    login.close()


async def test_remember_me_unlocks_at_the_session_check(boot, memory_keyring):
    first = await boot(remember_me=True)
    user_id = await first.service.sign_up("alice", "Alice", PASSPHRASE, remember=True)
    assert list(memory_keyring.entries) == [("chatkernel", "alice")]
    assert PASSPHRASE not in next(iter(memory_keyring.entries.values()))
    await first.app.shutdown()  # a shutdown keeps the remembered key
    second = await boot(remember_me=True)
    await second.settle()
    assert second.service.state == "authenticated" and second.service.user_id == user_id
    assert second.actor.state == ["authenticated"]
    await second.service.log_out("user")  # logging out on purpose forgets it
    assert memory_keyring.entries == {}


async def test_remember_me_off_or_without_a_keyring_asks_for_the_passphrase(boot, memory_keyring):
    first = await boot(remember_me=True)
    await first.service.sign_up("alice", "Alice", PASSPHRASE, remember=True)
    await first.app.shutdown()
    second = await boot()  # remember_me off: the key is not even looked up
    assert second.service.state == "unauthenticated" and second.actor.state == ["unauthenticated"]
