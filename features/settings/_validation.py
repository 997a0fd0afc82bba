"""What a valid setting is. Every refusal names the rule that was broken, because the UI shows
the reason verbatim and the user has to be able to fix the input from it alone."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from chatkernel.relay.protocol import RelayURLError, check_relay_url

from .errors import InvalidSettingError

__all__ = ["DEFAULTS", "KEYS", "THEMES", "check_url", "validate"]

THEMES = ("light", "dark", "system")
DEFAULTS: Mapping[str, Any] = MappingProxyType({"theme": "system", "notifications": True, "signaling_url": None})
KEYS = tuple(DEFAULTS)


def check_url(url: object, *, allow_insecure_remote: bool = False, key: str = "signaling_url") -> str:
    """The URL, normalised, or :class:`InvalidSettingError`: the relay's one URL policy, worded for ``key``."""
    try:
        return check_relay_url(url, allow_insecure_remote=allow_insecure_remote)
    except RelayURLError as exc:
        raise InvalidSettingError(key, exc.reason, value=url) from None


def validate(key: str, value: Any, *, allow_insecure_remote: bool = False) -> Any:
    """The value as it will be stored, or :class:`InvalidSettingError`."""
    if key == "theme":
        if value not in THEMES or not isinstance(value, str):
            raise InvalidSettingError(key, f"{value!r} is not one of {', '.join(map(repr, THEMES))}", value=value)
        return value
    if key == "notifications":
        if not isinstance(value, bool):
            raise InvalidSettingError(key, f"must be true or false, got {value!r} ({type(value).__name__})",
                                      value=value)
        return value
    if key == "signaling_url":
        return None if value is None else check_url(value, allow_insecure_remote=allow_insecure_remote)
    raise InvalidSettingError(str(key), f"unknown setting; known: {', '.join(KEYS)}", value=value)
