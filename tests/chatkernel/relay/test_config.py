"""RelayConfig refuses limits that would make the relay misbehave."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chatkernel.relay import ConfigError, RelayConfig


def test_defaults_follow_the_spec() -> None:
    config = RelayConfig()
    assert config.max_body_bytes == 64 * 1024
    assert (config.poll_max_events, config.poll_max_bytes) == (100, 1024 * 1024)
    assert config.poll_max_timeout == 30 and config.token_ttl == 24 * 3600
    assert config.connect_window == 120


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(RelayConfig)])
@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "5", True])
def test_every_limit_must_be_a_positive_number(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        RelayConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.field is not None


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="poll_default_timeout"):
        RelayConfig(poll_default_timeout=40)
    with pytest.raises(ConfigError, match="poll_max_bytes"):
        RelayConfig(max_body_bytes=2_000_000)
    with pytest.raises(ConfigError, match="burst"):
        RelayConfig(burst_per_user=0.5)
    with pytest.raises(ConfigError, match="prekey_batch_max") as info:
        RelayConfig(prekey_batch_max=101, prekey_max_per_user=100)  # one upload could never be stored
    assert info.value.field == "prekey_batch_max"


def test_replace_validates_too() -> None:
    assert RelayConfig().replace(token_ttl=5).token_ttl == 5
    with pytest.raises(ConfigError):
        RelayConfig().replace(token_ttl=-5)
