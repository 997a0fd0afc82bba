"""The event specs accept the payloads the feature will send and carry no secret; the settings
record is a valid feature settings record."""

from __future__ import annotations

import dataclasses

import pytest

from chatkernel import PayloadError
from chatkernel._settings import apply_settings, check_settings_record

from features.auth import events
from features.auth._config import AuthConfig
from features.auth._kdf import DEFAULT_PARAMS, KdfParams
from features.auth.errors import KdfRecordError

SECRET_WORDS = ("passphrase", "password", "key", "salt", "verifier", "secret", "token")


@pytest.mark.parametrize(("spec", "payload"), [
    (events.AUTH_SUCCESS, {"profile": "default", "user_id": "abcdefghijklmnopqrstuvwxyz234567"}),
    (events.AUTH_FAILED, {"profile": "default", "reason": "wrong_passphrase", "retry_after_s": 2.0}),
    (events.AUTH_FAILED, {"profile": "default", "reason": "throttled", "retry_after_s": 0.0}),
    (events.AUTH_LOGOUT, {"profile": "default", "reason": "timeout"}),
])
def test_payloads_check_against_their_specs(spec, payload):
    spec.check(payload)


@pytest.mark.parametrize(("spec", "payload", "field"), [
    (events.AUTH_FAILED, {"profile": "p", "reason": "bad luck", "retry_after_s": 0.0}, "reason"),
    (events.AUTH_FAILED, {"profile": "p", "reason": "throttled"}, "retry_after_s"),
    (events.AUTH_SUCCESS, {"profile": "p", "user_id": "u", "db_key": "00"}, "db_key"),
    (events.AUTH_LOGOUT, {"profile": "p", "reason": "bored"}, "reason"),
])
def test_wrong_payloads_are_refused_naming_the_field(spec, payload, field):
    with pytest.raises(PayloadError) as info:
        spec.check(payload)
    assert field in str(info.value)


def test_no_field_could_carry_a_secret():
    assert [s.type for s in events.EMITTED] == ["AUTH_SUCCESS", "AUTH_FAILED", "AUTH_LOGOUT"]
    for spec in events.EMITTED:
        assert spec.priority.name == "HIGH"
        for name in spec.fields:
            assert not any(word in name.lower() for word in SECRET_WORDS), (spec.type, name)


def test_the_settings_record_is_valid_and_overridable():
    config = AuthConfig()
    check_settings_record("auth", config)
    assert dataclasses.is_dataclass(config) and config.remember_me is False
    assert config.kdf_params == DEFAULT_PARAMS and config.session_timeout_s == 900.0
    raised = apply_settings("auth", config, {"argon2_memory_kib": 128 * 1024, "session_timeout_s": 60.0})
    assert raised.kdf_params == KdfParams(128 * 1024, 3, 1)
    with pytest.raises(KdfRecordError, match="iterations"):
        _ = dataclasses.replace(config, argon2_iterations=0).kdf_params
