"""Argon2id -> db key + verifier: determinism, separation, the record, the upgrade rule."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from features.auth._kdf import (DEFAULT_PARAMS, KEY_LEN, OWASP_MINIMUM, DerivedKeys, KdfParams, KdfRecord, derive,
                                needs_upgrade, new_record, upgraded_params, verify)
from features.auth.errors import KdfRecordError

from .conftest import FAST

SALT = bytes(range(16))
OTHER_SALT = bytes(range(1, 17))


def test_same_passphrase_and_salt_give_the_same_keys():
    a, b = derive("correct horse", FAST, SALT), derive("correct horse", FAST, SALT)
    assert a.db_key == b.db_key and a.verifier == b.verifier
    assert len(a.db_key) == KEY_LEN == len(a.verifier)


def test_a_different_salt_passphrase_or_cost_gives_different_keys():
    base = derive("correct horse", FAST, SALT)
    for other in (derive("correct horse", FAST, OTHER_SALT), derive("correct horsf", FAST, SALT),
                  derive("correct horse", KdfParams(128, 1, 1), SALT), derive("correct horse", KdfParams(64, 2), SALT)):
        assert other.db_key != base.db_key and other.verifier != base.verifier


def test_the_key_and_the_verifier_are_independent_outputs_of_argon2id():
    keys = derive("correct horse", FAST, SALT)
    master = Argon2id(salt=SALT, length=32, iterations=1, lanes=1, memory_cost=64).derive(b"correct horse")
    assert keys.db_key != keys.verifier
    assert master not in (keys.db_key, keys.verifier)
    assert hashlib.sha256(keys.db_key).digest() != keys.verifier


def test_nfkc_forms_derive_the_same_key():
    assert derive("\uff50\uff41\uff53\uff53", FAST, SALT) == derive("pass", FAST, SALT)


def test_the_verifier_detects_a_wrong_passphrase_and_the_record_never_holds_the_key():
    record, keys = new_record("correct horse battery", FAST)
    assert verify(derive("correct horse battery", FAST, record.salt), record)
    wrong = derive("correct horse batterY", FAST, record.salt)
    assert not verify(wrong, record)
    serialized = json.dumps(record.to_dict())
    for secret in (keys.db_key, wrong.db_key):
        assert secret not in json.dumps(record.to_dict()).encode()
        assert secret.hex() not in serialized
    from chatkernel.relay.protocol import b64url_encode
    assert b64url_encode(keys.db_key) not in serialized


def test_new_records_have_fresh_salts():
    a, _ = new_record("same passphrase", FAST)
    b, _ = new_record("same passphrase", FAST)
    assert a.salt != b.salt and a.verifier != b.verifier and len(a.salt) == 16


def test_the_record_round_trips_through_json():
    record, _ = new_record("correct horse", FAST)
    data = json.loads(json.dumps(record.to_dict()))
    assert data["v"] == 1 and data["kdf"] == "argon2id" and (data["m"], data["t"], data["p"]) == (64, 1, 1)
    assert KdfRecord.from_dict(data) == record


@pytest.mark.parametrize(("change", "words"), [
    ({"v": 2}, "format version 2"),
    ({"kdf": "scrypt"}, "'scrypt' is not 'argon2id'"),
    ({"m": 10**9}, "memory_kib must be an integer from 8"),
    ({"t": 0}, "iterations must be an integer from 1"),
    ({"t": True}, "iterations must be an integer"),
    ({"p": 4, "m": 16}, "at least 8 x lanes"),
    ({"salt": "AAAA"}, "salt must be 16 bytes"),
    ({"check": "not base64!"}, "check:"),
    ({"extra": 1}, "fields must be exactly"),
])
def test_a_damaged_record_is_refused_with_a_reason(change, words):
    record, _ = new_record("correct horse", FAST)
    with pytest.raises(KdfRecordError, match=words):
        KdfRecord.from_dict({**record.to_dict(), **change})


def test_not_a_dict_is_refused():
    with pytest.raises(KdfRecordError, match="expected a JSON object"):
        KdfRecord.from_dict([1, 2])


def test_the_default_parameters_are_above_owasps_floor():
    assert DEFAULT_PARAMS.memory_kib >= OWASP_MINIMUM.memory_kib and DEFAULT_PARAMS.iterations >= 2
    assert DEFAULT_PARAMS == KdfParams(64 * 1024, 3, 1)
    assert DEFAULT_PARAMS.work() > 3 * OWASP_MINIMUM.work()


def test_upgrades_are_asked_for_when_below_and_never_lower_anything():
    assert needs_upgrade(OWASP_MINIMUM, DEFAULT_PARAMS)
    assert not needs_upgrade(DEFAULT_PARAMS, DEFAULT_PARAMS)
    assert not needs_upgrade(KdfParams(128 * 1024, 4), DEFAULT_PARAMS)
    mixed = KdfParams(128 * 1024, 2)  # more memory, fewer passes
    assert needs_upgrade(mixed, DEFAULT_PARAMS)
    assert upgraded_params(mixed, DEFAULT_PARAMS) == KdfParams(128 * 1024, 3, 1)


def test_keys_are_not_shown_or_pickled():
    record, keys = new_record("correct horse", FAST)
    for text in (repr(keys), str(keys), repr(record)):
        for secret in (keys.db_key, keys.verifier):
            assert secret.hex() not in text and repr(secret) not in text
    assert "hidden" in repr(keys) and "hidden" in repr(record)
    assert "m=64 KiB t=1 p=1" in repr(record)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(keys)
    assert isinstance(keys, DerivedKeys)
