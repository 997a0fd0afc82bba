"""Remember-me: refused without a secure OS keyring (with its reason), a round trip through an
in-memory backend installed with keyring.set_keyring, stale entries, forget."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import PasswordSetError

from features.auth._kdf import new_record
from features.auth._remember import SERVICE, RememberMe, keyring_status
from features.auth.errors import RememberMeStorageError, RememberMeUnavailableError

from .conftest import FAST, MemoryKeyring


class PlaintextKeyring(MemoryKeyring):
    """Stands for keyrings.alt.file.PlaintextKeyring: detected by its package, like the real one."""

    priority = 0.5  # type: ignore[assignment]


PlaintextKeyring.__module__ = "keyrings.alt.file"


class LowKeyring(MemoryKeyring):
    priority = 0.2  # type: ignore[assignment]


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("the collection is locked")


@pytest.fixture
def record_and_keys():
    return new_record("correct horse battery", FAST)


def test_on_this_machine_or_with_the_fail_backend_remember_me_is_unavailable(record_and_keys):
    record, keys = record_and_keys
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        status = keyring_status()
        assert not status.available and status.reason == "no OS keyring"
        assert status.backend == "keyring.backends.fail.Keyring" and "Secret Service" in status.hint
        for call in (lambda r: r.store("default", keys, record), lambda r: r.load("default", record),
                     lambda r: r.forget("default")):
            with pytest.raises(RememberMeUnavailableError) as info:
                call(RememberMe())
            assert str(info.value) == "remember-me unavailable: no OS keyring"
            assert info.value.backend == "keyring.backends.fail.Keyring" and info.value.profile == "default"
    finally:
        keyring.set_keyring(previous)


@pytest.mark.parametrize(("backend", "words"), [
    (null.Keyring(), "switched off"),
    (PlaintextKeyring(), "keyrings.alt.file.PlaintextKeyring keeps secrets in a file"),
    (LowKeyring(), "ranks itself 0.2"),
])
def test_insecure_backends_are_refused_with_their_reason(backend, words, record_and_keys):
    record, keys = record_and_keys
    status = keyring_status(backend)
    assert not status.available and words in status.reason
    with pytest.raises(RememberMeUnavailableError, match=words):
        RememberMe(backend).store("default", keys, record)
    assert getattr(backend, "entries", {}) == {}  # nothing was written anywhere


def test_round_trip_through_the_keyring(memory_keyring, record_and_keys):
    record, keys = record_and_keys
    remember = RememberMe()
    assert remember.status().available and remember.load("default", record) is None
    remember.store("default", keys, record)
    (service, user), entry = next(iter(memory_keyring.entries.items()))
    assert (service, user) == (SERVICE, "default") == ("chatkernel", "default")
    assert "correct horse" not in entry and entry.startswith(f"v1:{record.salt_id}:")
    loaded = remember.load("default", record)
    assert loaded is not None and loaded.db_key == keys.db_key
    assert remember.load("other", record) is None
    assert remember.forget("default") is True and remember.forget("default") is False
    assert remember.load("default", record) is None and memory_keyring.entries == {}


def test_a_key_remembered_for_another_record_is_stale_and_forgotten(memory_keyring, record_and_keys):
    record, keys = record_and_keys
    remember = RememberMe()
    remember.store("default", keys, record)
    newer, _ = new_record("correct horse battery", FAST)  # a passphrase change or an upgrade: new salt
    assert remember.load("default", newer) is None
    assert memory_keyring.entries == {}


def test_an_unreadable_entry_is_forgotten(memory_keyring, record_and_keys):
    record, _ = record_and_keys
    memory_keyring.entries[(SERVICE, "default")] = "v0:garbage"
    assert RememberMe().load("default", record) is None and memory_keyring.entries == {}


def test_keyring_errors_become_storage_errors(record_and_keys):
    record, keys = record_and_keys
    with pytest.raises(RememberMeStorageError, match="could not store the key for 'default'.*locked") as info:
        RememberMe(BrokenKeyring()).store("default", keys, record)
    assert info.value.operation == "store"


def test_nothing_secret_in_reprs(memory_keyring, record_and_keys):
    record, keys = record_and_keys
    remember = RememberMe()
    remember.store("default", keys, record)
    loaded = remember.load("default", record)
    for text in (repr(loaded), str(loaded), repr(remember)):
        assert keys.db_key.hex() not in text and repr(keys.db_key) not in text
    assert "hidden" in repr(loaded)
    assert isinstance(memory_keyring, KeyringBackend)


def test_a_chain_is_judged_by_every_backend_in_it():
    from keyring.backends.chainer import ChainerBackend

    class SecureChain(ChainerBackend):
        backends = [MemoryKeyring(), MemoryKeyring()]  # type: ignore[assignment]

    class MixedChain(ChainerBackend):
        backends = [MemoryKeyring(), PlaintextKeyring()]  # type: ignore[assignment]

    class EmptyChain(ChainerBackend):
        backends = []  # type: ignore[assignment]

    assert keyring_status(SecureChain()).available
    mixed = keyring_status(MixedChain())
    assert not mixed.available and "holds keyrings.alt.file.PlaintextKeyring" in mixed.reason
    assert keyring_status(EmptyChain()).reason == "no OS keyring"


def test_this_machines_own_keyring_is_judged_without_writing_to_it(record_and_keys):
    record, keys = record_and_keys
    status = keyring_status()
    if status.available:
        pytest.skip(f"a secure OS keyring is present ({status.backend}); not writing to it")
    with pytest.raises(RememberMeUnavailableError) as info:
        RememberMe().store("default", keys, record)
    assert str(info.value) == f"remember-me unavailable: {status.reason}"
