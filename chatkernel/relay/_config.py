"""The relay's limits, in one frozen record shared by the app, the CLI and the embedded relay."""

from __future__ import annotations

import dataclasses
import ipaddress
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
    # The X3DH key directory: one-time prekeys per POST /keys, and kept per user (Signal's
    # server takes 100 per upload; a client refills long before a thousand are used up).
    prekey_batch_max: int = 100
    prekey_max_per_user: int = 1000
    # Connections (per node): what a client may hold before its request reaches the app.
    header_max_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int = 12_000
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed; none by default.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.name == "trusted_proxies":
                continue
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
        if self.prekey_batch_max > self.prekey_max_per_user:
            raise ConfigError("prekey_batch_max exceeds prekey_max_per_user", field="prekey_batch_max")
        if self.max_connections <= self.max_parked_polls:
            # Every parked poll holds a connection; others must still get in.
            raise ConfigError("max_connections must exceed max_parked_polls", field="max_connections")
        object.__setattr__(self, "trusted_proxies", _proxies(self.trusted_proxies))

    def replace(self, **changes: object) -> RelayConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _proxies(value: object) -> tuple[str, ...]:
    """IP addresses or networks (``10.0.0.0/8``); ``*`` is refused: it trusts every client."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise ConfigError(f"trusted_proxies must be a list of addresses, got {value!r}", field="trusted_proxies")
    proxies: list[str] = []
    for item in value:
        try:
            network = ipaddress.ip_network(str(item).strip(), strict=False)
        except ValueError:
            raise ConfigError(
                f"trusted proxy {item!r} is not an IP address or network", field="trusted_proxies"
            ) from None
        proxies.append(str(network) if network.num_addresses > 1 else str(network.network_address))
    return tuple(proxies)
