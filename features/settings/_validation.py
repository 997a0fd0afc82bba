"""What a valid setting is. Every refusal names the rule that was broken, because the UI shows
the reason verbatim and the user has to be able to fix the input from it alone."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from chatkernel import is_loopback_host

from .errors import InvalidSettingError

__all__ = ["DEFAULTS", "KEYS", "THEMES", "check_url", "validate"]

THEMES = ("light", "dark", "system")
DEFAULTS: Mapping[str, Any] = MappingProxyType({"theme": "system", "notifications": True, "signaling_url": None})
KEYS = tuple(DEFAULTS)


def check_url(url: object, *, allow_insecure_remote: bool = False, key: str = "signaling_url") -> str:
    """The URL, normalised (trimmed, no trailing slash), or :class:`InvalidSettingError`."""
    def refuse(reason: str) -> InvalidSettingError:
        return InvalidSettingError(key, reason, value=url)

    if not isinstance(url, str):
        raise refuse(f"must be a string, got {type(url).__name__}")
    text = url.strip()
    if not text:
        raise refuse("is empty (reset to use the default relay)")
    if any(ch.isspace() for ch in text):
        raise refuse(f"{text!r} contains whitespace")
    parts = urlsplit(text)
    if not parts.scheme or "://" not in text:
        raise refuse(f"{text!r} has no scheme; start it with https:// or http://")
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse(f"scheme must be http or https, got {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise refuse("must not contain credentials (user:password@)")
    if not parts.hostname:
        raise refuse(f"{text!r} has no host")
    if parts.query or "?" in text:
        raise refuse("must not have a query (?...)")
    if parts.fragment or "#" in text:
        raise refuse("must not have a fragment (#...)")
    try:
        parts.port
    except ValueError as exc:
        raise refuse(f"has an invalid port: {exc}") from None
    if parts.scheme.lower() == "http" and not allow_insecure_remote and not is_loopback_host(parts.hostname):
        raise refuse(f"plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost), "
                     f"not {parts.hostname!r}; use https:// or set allow_insecure_remote")
    return text.rstrip("/")


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
