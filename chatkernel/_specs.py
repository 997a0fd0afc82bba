"""Event specs: what an event means and carries, declared once by the feature that emits it.

A spec is data (type, priority, payload fields with their types, a one-line meaning), so the
kernel can check subscriptions against emitters at mount, validate payloads in strict mode, and
export the whole catalogue as JSON Schema for the explorer and session recordings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from types import MappingProxyType
from typing import Any

from ._errors import EventSpecConflictError, InvalidEventError, PayloadError
from ._events import (
    APP_READY,
    APP_SHUTDOWN,
    FEATURE_ERROR,
    FEATURE_MOUNTED,
    FEATURE_UNMOUNTED,
    Priority,
    check_event_type,
    parse_priority,
)
from ._types import Checker, TypeMismatch, compile_type, describe, is_not_required, json_schema, unwrap

__all__ = ["KERNEL", "KERNEL_SPECS", "USER", "EventSpec", "SpecCatalog"]

#: The declarer of the kernel's own events.
KERNEL = "kernel"
#: The declarer of the events notebook cells dispatch (``app.dispatch``), and their source.
USER = "user"
_MISSING = object()


@dataclass(frozen=True, eq=False)
class EventSpec:
    """One event type's contract. ``fields`` maps payload keys to annotations
    (``NotRequired[T]`` for optional keys); a payload may carry no other key."""

    type: str
    priority: Priority | str
    doc: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        try:
            check_event_type(self.type)
            set_(self, "priority", parse_priority(self.priority))
        except InvalidEventError as exc:
            raise InvalidEventError(f"spec {self.type!r}: {exc}", event_type=self.type) from None
        if not isinstance(self.doc, str) or not self.doc.strip() or "\n" in self.doc.strip():
            raise InvalidEventError(f"spec {self.type}: doc must be one line saying what the event means",
                                    event_type=self.type)
        if not isinstance(self.fields, Mapping):
            raise InvalidEventError(f"spec {self.type}: fields must be a mapping of name to type",
                                    event_type=self.type)
        checks: list[tuple[str, Checker, bool]] = []
        for name, annotation in self.fields.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise InvalidEventError(f"spec {self.type}: field name {name!r} is not an identifier",
                                        event_type=self.type)
            try:
                checks.append((name, compile_type(annotation), not is_not_required(annotation)))
            except TypeError as exc:
                raise InvalidEventError(f"spec {self.type}: field {name!r}: {exc}", event_type=self.type) from None
        set_(self, "fields", MappingProxyType(dict(self.fields)))
        set_(self, "_checks", tuple(checks))
        set_(self, "_names", frozenset(self.fields))
        # The generated checker replaces the method on the instance: one call, no bound method.
        set_(self, "check", _compile_check(self.fields, tuple(checks), self._explain))

    def check(self, payload: Mapping[str, Any]) -> None:
        """Raise :class:`PayloadError` naming the field, what was expected and what came."""
        self._explain(payload)  # replaced per instance by the generated checker; kept for documentation

    def _explain(self, payload: Mapping[str, Any]) -> None:
        """The slow path: find the first problem and say what it is."""
        present = 0
        for name, checker, required in self._checks:  # type: ignore[attr-defined]
            value = payload.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    raise PayloadError(self.type, name, describe(self.fields[name]), None, missing=True)
                continue
            present += 1
            try:
                checker(value, name)
            except TypeMismatch as exc:
                raise PayloadError(self.type, exc.path, exc.expected, exc.got) from None
        if len(payload) != present:
            extra = sorted(str(k) for k in payload if k not in self._names)  # type: ignore[attr-defined]
            raise PayloadError(self.type, extra[0], "no such field (declared: "
                               f"{', '.join(self.fields) or 'none'})", payload[extra[0]], unknown=True)

    def json_schema(self) -> dict[str, Any]:
        """The payload's JSON Schema, with the event's type, priority and meaning."""
        return {
            "title": self.type,
            "description": self.doc,
            "type": "object",
            "properties": {name: json_schema(annotation) for name, annotation in self.fields.items()},
            "required": [name for name, _, required in self._checks if required],  # type: ignore[attr-defined]
            "additionalProperties": False,
            "x-priority": self.priority.name,  # type: ignore[union-attr]
        }

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}: {describe(v)}" for k, v in self.fields.items())
        return f"EventSpec({self.type}, {self.priority.name}, {{{fields}}})"  # type: ignore[union-attr]


_INLINE = {str: "is not _str", int: "is not _int", bool: "is not _bool", type(None): "is not _none"}


def _compile_check(fields: Mapping[str, Any], checks: tuple[tuple[str, Checker, bool], ...], explain: Any) -> Any:
    """Generate the checker: exact-type tests inlined, and on any mismatch ``explain``.

    Code generation keeps strict mode cheap (a 3-field check costs a few hundred nanoseconds, close
    to msgspec's Struct conversion; see bench/bench_bus.py); :meth:`EventSpec._explain` words the
    refusal.
    """
    lines = ["def check(payload):", "    n = 0"]
    namespace: dict[str, Any] = {"_M": _MISSING, "_explain": explain, "_str": str, "_int": int, "_bool": bool,
                                 "_none": type(None), "_float": float, "_TypeMismatch": TypeMismatch}
    for i, (name, checker, required) in enumerate(checks):
        annotation = unwrap(fields[name])
        annotation = type(None) if annotation is None else annotation
        if required:
            lines += ["    try:", f"        v = payload[{name!r}]", "    except KeyError:",
                      "        return _explain(payload)"]
            indent = "    "
        else:
            lines += [f"    v = payload.get({name!r}, _M)", "    if v is not _M:"]
            indent = "        "
            lines.append(f"{indent}n += 1")
        if annotation is Any or annotation is object:
            continue
        if annotation in _INLINE:
            lines.append(f"{indent}if v.__class__ {_INLINE[annotation]}: return _explain(payload)")
        elif annotation is float:
            lines.append(f"{indent}if v.__class__ is not _float and v.__class__ is not _int: return _explain(payload)")
        else:
            namespace[f"_c{i}"] = checker
            lines += [f"{indent}try:", f"{indent}    _c{i}(v, {name!r})",
                      f"{indent}except _TypeMismatch:", f"{indent}    return _explain(payload)"]
    required = sum(1 for _, _, is_required in checks if is_required)
    lines.append(f"    if len(payload) != n + {required}: return _explain(payload)")
    exec(compile("\n".join(lines), "<chatkernel spec check>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace["check"]


KERNEL_SPECS: tuple[EventSpec, ...] = (
    EventSpec(APP_READY, Priority.HIGH, "the app reached ready; startup work may begin",
              {"startup_type": str, "degraded": bool, "mounted": list[str]}),
    EventSpec(APP_SHUTDOWN, Priority.HIGH, "the app is shutting down; features unmount next"),
    EventSpec(FEATURE_ERROR, Priority.HIGH, "a hook, handler or actor of a feature raised",
              {"feature": str | None, "phase": str, "event_type": str | None, "event_id": int | None,
               "error_type": str, "error": str}),
    EventSpec(FEATURE_MOUNTED, Priority.MEDIUM, "a feature finished mounting", {"feature": str}),
    EventSpec(FEATURE_UNMOUNTED, Priority.MEDIUM, "a feature was unmounted", {"feature": str}),
)


class _Priorities(dict):  # type: ignore[type-arg]
    """type -> declared priority; an undeclared type's name is checked once and reads MEDIUM.

    One subscript on the dispatch hot path answers both "is this a valid type name?" and "at
    which priority?"; entries for undeclared types are bounded like the cache of valid names.
    """

    def __missing__(self, event_type: str) -> Priority:
        check_event_type(event_type)
        if len(self) < 65536:
            self[event_type] = Priority.MEDIUM
        return Priority.MEDIUM


class SpecCatalog:
    """Every declared event type and who declared it; one declarer per type."""

    def __init__(self) -> None:
        #: type -> spec; read it (the bus does, on every dispatch), change it only through declare/withdraw.
        self.specs: dict[str, EventSpec] = {}
        #: type -> declared priority, the bus's default for that type (kept beside ``specs``).
        self.priorities: dict[str, Priority] = _Priorities()
        self._owners: dict[str, str] = {}
        self.declare(KERNEL, KERNEL_SPECS)

    def declare(self, owner: str, specs: Iterable[EventSpec]) -> None:
        """Add ``owner``'s specs, all or none; a type someone else declared is refused with both names."""
        specs = tuple(specs)
        for spec in specs:
            if not isinstance(spec, EventSpec):
                raise InvalidEventError(f"{owner} declares {spec!r}, which is not an EventSpec", event_type=None)
            other = self._owners.get(spec.type)
            if other is not None and other != owner:
                raise EventSpecConflictError(spec.type, other, owner)
        for spec in specs:
            self.specs[spec.type] = spec
            self.priorities[spec.type] = spec.priority  # type: ignore[assignment]
            self._owners[spec.type] = owner

    def withdraw(self, owner: str) -> None:
        for event_type in [t for t, o in self._owners.items() if o == owner]:
            del self.specs[event_type], self._owners[event_type]
            self.priorities.pop(event_type, None)

    def get(self, event_type: str) -> EventSpec | None:
        return self.specs.get(event_type)

    def owner(self, event_type: str) -> str | None:
        return self._owners.get(event_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self.specs

    def __len__(self) -> int:
        return len(self.specs)

    def items(self) -> list[tuple[str, EventSpec]]:
        """``(declarer, spec)`` pairs, sorted by type."""
        return [(self._owners[t], self.specs[t]) for t in sorted(self.specs)]

    def json_schema(self) -> dict[str, Any]:
        """One JSON Schema document: ``$defs`` holds each type's payload schema with ``x-declared-by``."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "chatkernel events",
            "$defs": {spec.type: {**spec.json_schema(), "x-declared-by": owner} for owner, spec in self.items()},
        }

    def table(self) -> list[dict[str, Any]]:
        """One row per type: what the explorer's catalogue shows."""
        return [{"type": spec.type, "priority": spec.priority.name, "declared_by": owner,  # type: ignore[union-attr]
                 "fields": {k + ("?" if is_not_required(v) else ""): describe(v) for k, v in spec.fields.items()},
                 "doc": spec.doc}
                for owner, spec in self.items()]

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [(r["type"], r["priority"], r["declared_by"], ", ".join(f"{k}: {v}" for k, v in r["fields"].items()),
                 r["doc"]) for r in self.table()]

    def __repr__(self) -> str:
        rows = self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
        lines = [f"SpecCatalog({len(self)} event types)"]
        lines += [f"  {t:<{widths[0]}}  {p:<{widths[1]}}  {d:<{widths[2]}}  {{{f}}}" for t, p, d, f, _ in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("type", "priority", "declared by", "payload fields", "meaning"))
        body = "".join("<tr>" + "".join(f"<td>{escape(c, quote=True)}</td>" for c in row) + "</tr>"
                       for row in self._rows())
        return f"<table class='chatkernel-catalog'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
