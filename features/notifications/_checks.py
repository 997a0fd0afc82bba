"""What a valid id, setting and preview are; every refusal names the rule that was broken."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from typing import Any

from ._config import NotificationsConfig
from .errors import InvalidIdError, InvalidSettingError

__all__ = ["MAX_ID_CHARS", "NEW_MESSAGE", "PREVIEW_CHARS", "check_config", "check_id", "check_setting", "preview_of"]

MAX_ID_CHARS = 200
PREVIEW_CHARS = 140
NEW_MESSAGE = "New message"
_MAX_TOAST_SECONDS = 3600.0
_MAX_TOASTS = 50
_MAX_LABEL_CHARS = 200


def check_id(field: str, value: object) -> str:
    """A conversation or toast id: a string of 1 to 200 characters without control characters."""
    if not isinstance(value, str):
        raise InvalidIdError(field, value, f"must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidIdError(field, value, "is empty")
    if len(value) > MAX_ID_CHARS:
        raise InvalidIdError(field, value, f"is longer than {MAX_ID_CHARS} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidIdError(field, value, "contains a control character")
    return value


def check_setting(key: str, value: object) -> Any:
    """One setting's value as it will be used, or :class:`InvalidSettingError`."""
    if key in ("enabled", "desktop", "show_preview"):
        if not isinstance(value, bool):
            raise InvalidSettingError(key, value, "must be true or false")
        return value
    if key == "toast_seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= _MAX_TOAST_SECONDS:
            raise InvalidSettingError(key, value,
                                      f"must be a number of seconds above 0 and at most {_MAX_TOAST_SECONDS:g}")
        return float(value)
    if key == "max_toasts":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_TOASTS:
            raise InvalidSettingError(key, value, f"must be a whole number from 1 to {_MAX_TOASTS}")
        return value
    known = ", ".join(f.name for f in dataclasses.fields(NotificationsConfig))
    raise InvalidSettingError(str(key), value, f"is not a setting (known: {known})")


def check_config(config: NotificationsConfig, changes: Mapping[str, Any] | None = None) -> NotificationsConfig:
    """``config`` with ``changes`` applied, every value checked (all valid or nothing changes)."""
    merged = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for key, value in (changes or {}).items():
        if key not in merged:
            check_setting(key, value)  # raises: unknown
        merged[key] = value
    return NotificationsConfig(**{key: check_setting(key, value) for key, value in merged.items()})


def _label(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())  # line breaks and tabs of a body become spaces in a toast
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def preview_of(raw: object) -> dict[str, str] | None:
    """The chat's preview as a toast shows it ({title, author, text}; text at most 140
    characters), or None if it is not one."""
    if not isinstance(raw, Mapping):
        return None
    title = _label(raw.get("title"), _MAX_LABEL_CHARS)
    author = _label(raw.get("author"), _MAX_LABEL_CHARS)
    text = _label(raw.get("text"), PREVIEW_CHARS)
    if title is None or author is None or text is None:
        return None
    return {"title": title or NEW_MESSAGE, "author": author, "text": text}
