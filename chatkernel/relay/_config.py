"""The relay's limits, in one frozen record shared by the app, the CLI and the embedded relay."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ._errors import ConfigError

__all__ = ["RelayConfig"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Every limit the relay enforces. Durations are seconds, sizes bytes.

    The defaults follow the research notes: 64 KiB bodies (Matrix), 100 events or 1 MiB per
    poll (Matrix to-device), 30 s long polls, a 10 000-message mailbox kept 30 days.
    """

    max_body_bytes: int = 64 * 1024
    poll_max_events: int = 100
    poll_max_bytes: int = 1024 * 1024
    poll_default_timeout: float = 25.0
    poll_max_timeout: float = 30.0
    max_parked_polls: int = 10_000
    mailbox_max_len: int = 10_000
    mailbox_max_age: float = 30 * _DAY
    dedup_ttl: float = _DAY
    token_ttl: float = _DAY
    connect_window: float = 120.0
    rate_per_user: float = 20.0
    burst_per_user: float = 60.0
    rate_per_address: float = 100.0
    burst_per_address: float = 300.0
    rate_table_size: int = 65_536
    purge_interval: float = 60.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{field.name} must be a number, got {value!r}", field=field.name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{field.name} must be a positive number, got {value!r}", field=field.name)
        for name in ("burst_per_user", "burst_per_address"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1", field=name)
        if self.poll_default_timeout > self.poll_max_timeout:
            raise ConfigError("poll_default_timeout exceeds poll_max_timeout", field="poll_default_timeout")
        if self.poll_max_bytes < self.max_body_bytes:
            # One stored message must always fit in one poll answer.
            raise ConfigError("poll_max_bytes must be at least max_body_bytes", field="poll_max_bytes")

    def replace(self, **changes: float) -> RelayConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
