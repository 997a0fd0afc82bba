"""Field checks for request bodies: each failure names the field it refuses (422)."""

from __future__ import annotations

import json
import math
from typing import Any

from ._errors import InvalidFieldError, InvalidJSONError
from ._stores import MailboxStore
from .protocol import b64url_decode, is_message_id, is_user_id

__all__ = [
    "b64_field",
    "cursor_field",
    "int_field",
    "message_id_field",
    "object_field",
    "parse_body",
    "payload_field",
    "timeout_field",
    "user_id_field",
]

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object from the body; an empty body counts as ``{}``."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # also bad UTF-8, huge ints, absurd nesting
        raise InvalidJSONError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidJSONError("request body must be a JSON object")
    return data


def _missing(field: str) -> InvalidFieldError:
    return InvalidFieldError(field, f"{field} is required")


def user_id_field(body: dict[str, Any], name: str, *, path: str | None = None) -> str:
    field = path or name
    value = body.get(name)
    if value is None:
        raise _missing(field)
    if not is_user_id(value):
        raise InvalidFieldError(field, f"{field} must be a user id (32 characters of lower-case base32)")
    return str(value)


def object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        raise _missing(name)
    if not isinstance(value, dict):
        raise InvalidFieldError(name, f"{name} must be an object")
    return value


def b64_field(body: dict[str, Any], name: str, *, length: int, path: str | None = None) -> bytes:
    field = path or name
    value = body.get(name)
    if value is None:
        raise _missing(field)
    if not isinstance(value, str) or len(value) > 4 * length:
        raise InvalidFieldError(field, f"{field} must be base64url of {length} bytes")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise InvalidFieldError(field, f"{field} must be base64url of {length} bytes") from None
    if len(raw) != length:
        raise InvalidFieldError(field, f"{field} must be base64url of {length} bytes")
    return raw


def int_field(body: dict[str, Any], name: str, *, minimum: int = 0, maximum: int = 2**53) -> int:
    value = body.get(name)
    if value is None:
        raise _missing(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidFieldError(name, f"{name} must be an integer between {minimum} and {maximum}")
    return value


def timeout_field(body: dict[str, Any], name: str, *, default: float, maximum: float) -> float:
    """Seconds to park; values above ``maximum`` are clamped, not refused (the seed's clients
    may ask for more than this relay grants)."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidFieldError(name, f"{name} must be a non-negative number of seconds")
    return min(float(value), maximum)


def message_id_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise _missing(name)
    if not is_message_id(value):
        raise InvalidFieldError(name, f"{name} must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    return value


def cursor_field(body: dict[str, Any], name: str, store: MailboxStore) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str):
        raise InvalidFieldError(name, f"{name} must be an event id returned by /poll")
    try:
        store.cursor_key(value)
    except ValueError:
        raise InvalidFieldError(name, f"{name} must be an event id returned by /poll") from None
    return value


def payload_field(body: dict[str, Any], name: str) -> str:
    """The payload as ASCII JSON text, stored as is and spliced into poll answers."""
    if name not in body or body[name] is None:
        raise _missing(name)
    try:
        return json.dumps(body[name], separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (ValueError, RecursionError):
        raise InvalidFieldError(name, f"{name} must be a JSON value") from None
