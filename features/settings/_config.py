"""The settings feature's own configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SettingsConfig"]


@dataclass(frozen=True)
class SettingsConfig:
    """``allow_insecure_remote`` is the app's one switch for plain http:// to a non-loopback relay;
    it travels with every ``SIGNALING_URL_CHANGED``."""

    default_signaling_url: str = "http://127.0.0.1:8765"
    test_timeout_s: float = 3.0
    allow_insecure_remote: bool = False
