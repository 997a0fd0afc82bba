"""The signaling feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SignalingConfig"]


@dataclass(frozen=True)
class SignalingConfig:
    """``url`` is a relay to start with (loopback or https; the settings feature's
    ``SIGNALING_URL_CHANGED`` replaces it, and only that event can allow plain remote http).

    ``key_wait_s`` bounds how long ``upload_keys`` and ``fetch_bundle`` wait for a connection
    (riding out reconnects and rate limits) before they give up."""

    url: str | None = None
    auto_connect: bool = True
    poll_timeout_s: float = 25.0
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 10.0
    key_wait_s: float = 10.0
