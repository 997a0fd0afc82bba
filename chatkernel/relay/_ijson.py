"""Request bodies as I-JSON (RFC 7493), so nothing the relay stores can poison a mailbox.

Python's :func:`json.loads` accepts more than strict parsers do: lone surrogates
(``"\\ud800"``), duplicate keys (last one wins), integers of any size, ``1e400`` as infinity.
A payload with any of these, relayed unchanged, makes the recipient's strict parser (orjson,
pydantic-core, serde_json) refuse the whole poll answer, including the messages after it, so
the recipient never learns the id to acknowledge. The relay therefore accepts only I-JSON and
names the offending value's path in the refusal.

Stored payloads are re-serialised as ASCII JSON (``ensure_ascii``), so every surrogate in
them would show as a ``\\ud800``-``\\udfff`` escape; :func:`sanitize_stored` repairs any that a store
written before this check still holds, before a poll answer is assembled.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ._errors import InvalidJSONError

__all__ = ["MAX_SAFE_INTEGER", "parse_ijson", "sanitize_stored"]

MAX_SAFE_INTEGER = 2**53 - 1  # RFC 7493 section 2.2: integers exactly representable as doubles

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PATH_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
# A surrogate escape, \\ud800 to \\udfff (not an escaped backslash followed by "ud800"), optionally with
# its low half.
_SURROGATE_ESCAPE = re.compile(
    r"(?<!\\)((?:\\\\)*)(\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


class _Duplicate(dict[str, Any]):
    """An object in which ``key`` appeared twice; reported with its path by the walk."""

    __slots__ = ("key",)

    def __init__(self, pairs: list[tuple[str, Any]], key: str):
        super().__init__(pairs)
        self.key = key


class _Violation(Exception):
    """Raised by the fast path's hooks; deliberately not a ValueError, which means bad JSON."""


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Violation
    return result


def _strict_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _Violation


def _strict_float(text: str) -> float:
    value = float(text)
    if math.isfinite(value):
        return value
    raise _Violation


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            return _Duplicate(pairs, key)
        seen.add(key)
    raise AssertionError("unreachable")  # pragma: no cover


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PATH_KEY.match(key):
        return f"{path}.{key}" if path else key
    # Keys that are not identifiers are quoted ASCII, so the path itself is always I-JSON.
    shown = json.dumps(key[:64], ensure_ascii=True)
    return f"{path}[{shown}]"


def _refuse(path: str, reason: str, what: str) -> InvalidJSONError:
    field = path or "(body)"
    return InvalidJSONError(f"{field}: {what} (the relay accepts only I-JSON, RFC 7493)", field=field, reason=reason)


def _check(value: Any, path: str) -> None:
    # Iterative, so hostile nesting cannot exhaust the stack (json.loads already bounds depth).
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind is str:
            if _SURROGATE.search(item):
                raise _refuse(where, "lone_surrogate", "a string holds a lone UTF-16 surrogate")
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise _refuse(where, "unsafe_integer", "integers must lie within +-(2**53 - 1)")
        elif kind is float:
            if not math.isfinite(item):
                raise _refuse(where, "non_finite_number", "a number is too large for a double")
        elif kind is list:
            stack.extend((child, _step(where, i)) for i, child in enumerate(item))
        elif kind is dict or kind is _Duplicate:
            if kind is _Duplicate:
                raise _refuse(_step(where, item.key), "duplicate_key", "this key appears twice in its object")
            for key, child in item.items():
                if _SURROGATE.search(key):
                    raise _refuse(_step(where, key), "lone_surrogate", "a key holds a lone UTF-16 surrogate")
                stack.append((child, _step(where, key)))


def parse_ijson(raw: bytes) -> Any:
    """The value of an I-JSON text, or :class:`InvalidJSONError` (with ``field`` and ``reason``
    when the text is JSON but not I-JSON)."""
    try:
        text = raw.decode("utf-8")  # strict: also refuses UTF-8-encoded surrogates
    except UnicodeDecodeError as exc:
        raise InvalidJSONError(f"request body is not UTF-8 (byte {exc.start})", reason="invalid_utf8") from None
    if text.startswith("\ufeff"):
        raise InvalidJSONError("request body starts with a byte-order mark; send plain UTF-8", reason="bom")
    try:
        try:
            # Fast path: hooks that only raise, and no walk; almost every body ends here.
            value = json.loads(text, object_pairs_hook=_strict_object, parse_int=_strict_int,
                               parse_float=_strict_float, parse_constant=_reject_constant)
        except _Violation:
            value = None
        else:
            if "\\u" not in text or not _SURROGATE_ESCAPE.search(text):
                return value
        # Something is wrong (or a surrogate pair is escaped): parse again, marking duplicate
        # keys, and walk the value to name the offending field.
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # also huge ints, absurd nesting
        raise InvalidJSONError("request body is not valid JSON") from None
    _check(value, "")
    return value


def _repair(match: re.Match[str]) -> str:
    backslashes, escape = match.group(1), match.group(2)
    return backslashes + (escape if len(escape) == 12 else "\\ufffd")  # a high+low pair is a character


def sanitize_stored(payload: str) -> str:
    """``payload`` (stored ASCII JSON) with every lone surrogate escape replaced by U+FFFD."""
    if "\\u" not in payload or ("\\ud" not in payload and "\\uD" not in payload):
        return payload
    return _SURROGATE_ESCAPE.sub(_repair, payload)
