"""Field checks for request bodies: each failure names the field it refuses (422).

A present field never holds ``null`` (absent is how to omit an optional one), and a body holds
no field beyond its endpoint's list, so nothing a client sends is silently ignored.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ._errors import InvalidFieldError, InvalidJSONError
from ._ijson import MAX_SAFE_INTEGER, parse_ijson
from ._stores import MailboxStore
from .protocol import b64url_decode, is_message_id, is_user_id

__all__ = [
    "REQUEST_FIELDS",
    "array_field",
    "b64_field",
    "cursor_field",
    "int_field",
    "message_id_field",
    "object_field",
    "only_fields",
    "optional_user_id_field",
    "parse_body",
    "payload_field",
    "timeout_field",
    "user_id_field",
]

def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object from the body, which must be I-JSON; an empty body counts as ``{}``."""
    if not raw.strip():
        return {}
    data = parse_ijson(raw)
    if not isinstance(data, dict):
        raise InvalidJSONError("request body must be a JSON object")
    return data


# The fields each request body may hold; anything else is refused by name (``only_fields``), so
# a misspelt optional field ("Since") fails loudly instead of silently changing what happens.
# The OpenAPI document's request schemas list exactly these (a test keeps them equal).
REQUEST_FIELDS: dict[str, tuple[str, ...]] = {
    "/connect": ("userId", "publicKey", "ts", "sig"),
    "/connect publicKey": ("signing", "exchange"),
    "/poll": ("userId", "since", "timeout"),
    "/send": ("from", "to", "id", "payload"),
    "/disconnect": ("userId",),
    "/keys": ("userId", "signedPrekey", "oneTimePrekeys"),
    "/keys signedPrekey": ("id", "key", "sig"),
    "/keys oneTimePrekeys[]": ("id", "key"),
    "/keys/{userId} query": (),  # GET: no query parameters
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages a client of any language reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _path(prefix: str | None, name: str) -> str:
    """``prefix.name``, or ``prefix["odd name"]`` (quoted ASCII, as invalid_json paths are)."""
    if _IDENTIFIER.match(name):
        return f"{prefix}.{name}" if prefix else name
    return f"{prefix or ''}[{json.dumps(name[:64], ensure_ascii=True)}]"


def only_fields(body: dict[str, Any], allowed: tuple[str, ...], *, path: str | None = None) -> None:
    """Refuse the first unknown field (in sorted order, so the answer is deterministic)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        field = _path(path, unknown[0])
        raise InvalidFieldError(field, f"unknown field {field}; allowed here: {', '.join(allowed)}")


def _required(body: dict[str, Any], name: str, field: str) -> Any:
    if name not in body:
        raise InvalidFieldError(field, f"{field} is required")
    value = body[name]
    if value is None:
        raise InvalidFieldError(field, f"{field} must not be null")
    return value


def _optional(body: dict[str, Any], name: str) -> Any:
    """``None`` when absent; an explicit ``null`` is refused: absent is how to omit a field."""
    if name not in body:
        return None
    if body[name] is None:
        raise InvalidFieldError(name, f"{name} must not be null; leave the field out instead")
    return body[name]


def user_id_field(body: dict[str, Any], name: str, *, path: str | None = None) -> str:
    field = path or name
    value = _required(body, name, field)
    if not is_user_id(value):
        got = "" if isinstance(value, str) else f", got {_json_type(value)}"
        raise InvalidFieldError(field, f"{field} must be a user id (32 characters of a-z 2-7){got}")
    return str(value)


def optional_user_id_field(body: dict[str, Any], name: str) -> str | None:
    if _optional(body, name) is None:
        return None
    return user_id_field(body, name)


def object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = _required(body, name, name)
    if not isinstance(value, dict):
        raise InvalidFieldError(name, f"{name} must be an object, got {_json_type(value)}")
    return value


def array_field(body: dict[str, Any], name: str, *, max_items: int) -> list[Any]:
    value = _required(body, name, name)
    if not isinstance(value, list):
        raise InvalidFieldError(name, f"{name} must be an array, got {_json_type(value)}")
    if len(value) > max_items:
        raise InvalidFieldError(name, f"{name} holds {len(value)} items; at most {max_items} per request")
    return value


def b64_field(body: dict[str, Any], name: str, *, length: int, path: str | None = None) -> bytes:
    """Exactly :func:`~chatkernel.relay.protocol.b64url_decode`'s one form: unpadded, canonical."""
    field = path or name
    value = _required(body, name, field)
    chars = -(-length * 4 // 3)
    if not isinstance(value, str):
        raise InvalidFieldError(field, f"{field} must be a base64url string, got {_json_type(value)}")
    if "=" not in value and len(value) != chars:  # padding is named first: it is the likelier slip
        raise InvalidFieldError(
            field, f"{field} must be base64url of {length} bytes ({chars} characters, unpadded), got {len(value)}"
        )
    try:
        return b64url_decode(value)
    except ValueError as exc:
        raise InvalidFieldError(field, f"{field}: {exc}") from None


def int_field(
    body: dict[str, Any], name: str, *, minimum: int = 0, maximum: int = MAX_SAFE_INTEGER, path: str | None = None
) -> int:
    field = path or name
    value = _required(body, name, field)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        got = f"got {_json_type(value)}" if not isinstance(value, int) or isinstance(value, bool) else f"got {value}"
        raise InvalidFieldError(field, f"{field} must be an integer from {minimum} to {maximum}, {got}")
    return value


def timeout_field(body: dict[str, Any], name: str, *, default: float, maximum: float) -> float:
    """Seconds to park; ``default`` when absent; values above ``maximum`` are clamped, not
    refused (the seed's clients may ask for more than this relay grants)."""
    value = _optional(body, name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidFieldError(name, f"{name} must be a number of seconds, got {_json_type(value)}")
    if not math.isfinite(value) or value < 0:
        raise InvalidFieldError(name, f"{name} must be a non-negative number of seconds, got {value}")
    return min(float(value), maximum)


def message_id_field(body: dict[str, Any], name: str) -> str:
    value = _required(body, name, name)
    if not is_message_id(value):
        got = "" if isinstance(value, str) else f", got {_json_type(value)}"
        raise InvalidFieldError(name, f"{name} must be 1-128 characters of A-Z a-z 0-9 . _ : -{got}")
    return str(value)


def cursor_field(body: dict[str, Any], name: str, store: MailboxStore) -> str | None:
    """A relay id string from /poll, or ``None`` when absent. Numbers are refused: ids are
    opaque strings (Redis ids are ``ms-seq``), and a client that did arithmetic on one would
    acknowledge messages it never received."""
    value = _optional(body, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFieldError(name, f"{name} must be a string (an id returned by /poll), got {_json_type(value)}")
    try:
        store.cursor_key(value)
    except ValueError:
        raise InvalidFieldError(name, f"{name} is not an id this relay returns from /poll") from None
    return value


def payload_field(body: dict[str, Any], name: str) -> str:
    """The payload as ASCII JSON text, stored as is and spliced into poll answers."""
    value = _required(body, name, name)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (ValueError, RecursionError):
        raise InvalidFieldError(name, f"{name} must be a JSON value") from None
