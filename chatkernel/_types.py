"""Checking plain values against type annotations, for event payloads and feature settings.

Event payloads stay plain mappings on the bus; a spec compiles each field's annotation once
into a small checker, so strict mode costs a few type comparisons per field. (Measured against
msgspec in ``bench/bench_bus.py``: its ``Struct`` conversion is somewhat faster but turns
payloads into objects; its TypedDict conversion is three times slower. Checks run only in strict
mode.) The same annotations render as JSON Schema, which the explorer's forms are built from.

Supported annotations: ``Any``, ``object``, ``str``, ``int``, ``float`` (an int is accepted),
``bool``, ``None``, ``list``/``list[T]``, ``dict``/``dict[str, T]``, ``Literal[...]`` and unions
(``str | None``). ``NotRequired[T]`` marks an optional payload field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, NotRequired, Union

from ._errors import ChatKernelError

__all__ = ["Checker", "TypeMismatch", "compile_type", "describe", "is_not_required", "json_schema", "unwrap"]


class TypeMismatch(ChatKernelError):
    """A value does not match its annotation; ``path`` locates it inside nested values."""

    def __init__(self, path: str, expected: str, got: object):
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(f"{path}: expected {expected}, got {_shown(got)}")


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:59] + "\u2026"
    return f"{type(value).__name__} {text}"


#: ``check(value, path)`` returns None or raises :class:`TypeMismatch`.
Checker = Callable[[object, str], None]

_JSON_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null",
               list: "array", dict: "object"}


def is_not_required(annotation: object) -> bool:
    return typing.get_origin(annotation) is NotRequired


def unwrap(annotation: object) -> object:
    """The annotation without a ``NotRequired[...]`` wrapper."""
    return typing.get_args(annotation)[0] if is_not_required(annotation) else annotation


def _union_args(annotation: object) -> tuple[object, ...] | None:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return None


def describe(annotation: object) -> str:
    """A short human name for an annotation, as error messages show it."""
    annotation = unwrap(annotation)
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any or annotation is object:
        return "any value"
    members = _union_args(annotation)
    if members is not None:
        return " | ".join(describe(m) for m in members)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(describe(a) for a in typing.get_args(annotation))}]"
    return getattr(annotation, "__name__", repr(annotation))


def compile_type(annotation: object) -> Checker:
    """A checker for ``annotation``; an unsupported annotation is a :class:`TypeError` now, not later."""
    annotation = unwrap(annotation)
    expected = describe(annotation)
    if annotation is Any or annotation is object:
        return _accept
    if annotation is None or annotation is type(None):
        return _exact(type(None), expected)
    if annotation is bool or annotation is str:
        return _exact(annotation, expected)
    if annotation is int:
        return _exact(int, expected)  # an exact check: bool is not an int here
    if annotation is float:
        return _number(expected)
    if annotation is list or annotation is dict:
        return _instance(annotation, expected)
    members = _union_args(annotation)
    if members is not None:
        return _union([compile_type(m) for m in members], expected)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return _literal(args, expected)
    if origin is list:
        return _list(compile_type(args[0]), expected)
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"dict keys must be str (JSON objects), got {describe(args[0])}")
        return _dict(compile_type(args[1]), expected)
    raise TypeError(f"unsupported annotation {annotation!r}: use str, int, float, bool, None, list, dict, "
                    "Literal, a union of these, or Any")


def _accept(value: object, path: str) -> None:
    return None


def _exact(cls: type, expected: str) -> Checker:
    def check(value: object, path: str) -> None:
        if value.__class__ is not cls:
            raise TypeMismatch(path, expected, value)
    return check


def _number(expected: str) -> Checker:
    def check(value: object, path: str) -> None:
        if value.__class__ is not float and value.__class__ is not int:
            raise TypeMismatch(path, expected, value)
    return check


def _instance(cls: type, expected: str) -> Checker:
    accepted = (list, tuple) if cls is list else Mapping  # as list[T] and dict[str, T] accept them

    def check(value: object, path: str) -> None:
        if not isinstance(value, accepted):
            raise TypeMismatch(path, expected, value)
    return check


def _union(checks: list[Checker], expected: str) -> Checker:
    def check(value: object, path: str) -> None:
        for one in checks:
            try:
                one(value, path)
            except TypeMismatch:
                continue
            return
        raise TypeMismatch(path, expected, value)
    return check


def _literal(options: tuple[object, ...], expected: str) -> Checker:
    allowed = [(type(o), o) for o in options]

    def check(value: object, path: str) -> None:
        if (type(value), value) not in allowed:
            raise TypeMismatch(path, expected, value)
    return check


def _list(item: Checker, expected: str) -> Checker:
    def check(value: object, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise TypeMismatch(path, expected, value)
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]")
    return check


def _dict(item: Checker, expected: str) -> Checker:
    def check(value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise TypeMismatch(path, expected, value)
        for key, element in value.items():
            if key.__class__ is not str:
                raise TypeMismatch(f"{path} key", "str", key)
            item(element, f"{path}.{key}")
    return check


def json_schema(annotation: object) -> dict[str, Any]:
    """The JSON Schema (2020-12) of an annotation."""
    annotation = unwrap(annotation)
    if annotation is Any or annotation is object:
        return {}
    if annotation is None:
        annotation = type(None)
    if annotation in _JSON_NAMES:
        return {"type": _JSON_NAMES[annotation]}  # type: ignore[index]
    members = _union_args(annotation)
    if members is not None:
        return {"anyOf": [json_schema(m) for m in members]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"dict keys must be str (JSON objects), got {describe(args[0])}")
        return {"type": "object", "additionalProperties": json_schema(args[1])}
    raise TypeError(f"unsupported annotation {annotation!r}")
