"""The inspection stream: what XState's inspector shows, as plain records.

Every actor reports creation, events received, transitions (snapshots) and its stop. Records
are sanitized (secrets masked, values shortened) because the stream feeds notebooks and exports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InspectionRecord", "sanitize"]

log = logging.getLogger("chatkernel.inspect")

SECRET_KEYS = frozenset({"password", "passphrase", "token", "secret", "private_key", "key", "sig", "signature"})
_MAX_VALUE = 80


def sanitize(data: Mapping[str, Any]) -> dict[str, Any]:
    """A display-safe shallow copy: secrets masked, non-primitive values shortened to text."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name.startswith("_") or name == "bus_event":
            continue
        if name.lower() in SECRET_KEYS:
            out[name] = "***"
        elif value is None or isinstance(value, (bool, int, float)):
            out[name] = value
        else:
            text = value if isinstance(value, str) else repr(value)
            out[name] = text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "\u2026"
    return out


@dataclass(frozen=True, slots=True)
class InspectionRecord:
    """One inspection record. ``kind`` is one of actor.created, actor.event, actor.snapshot,
    actor.stopped, actor.error."""

    kind: str
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "actor": self.actor, "time": self.time, **self.data}


class TransitionListener:
    """A python-statemachine listener that turns transitions into snapshot records.

    It must never raise: any exception in a listener becomes ``error.execution`` and can move
    the machine, so a display bug would change behaviour.
    """

    def __init__(self, actor_id: str | None = None, sink: Callable[[InspectionRecord], None] | None = None):
        self.actor_id = actor_id
        self.sink = sink
        self.transitions = 0

    def bind(self, actor_id: str, sink: Callable[[InspectionRecord], None]) -> None:
        """Attach to an actor; machines are built with an unbound listener so that adding one
        later (a costly re-registration of every callback) is never needed."""
        self.actor_id = actor_id
        self.sink = sink

    def after_transition(self, event: Any, source: Any, target: Any, machine: Any, event_data: Any) -> None:
        self.transitions += 1
        if self.sink is None:
            return
        try:
            kwargs = getattr(getattr(event_data, "trigger_data", None), "kwargs", {}) or {}
            self.sink(InspectionRecord("actor.snapshot", self.actor_id or "", {
                "event": str(event),
                "source": getattr(source, "id", None),
                "target": getattr(target, "id", None),
                "value": sorted(machine.configuration_values),
                "data": sanitize(kwargs),
            }))
        except Exception:  # noqa: BLE001 - see class docstring
            log.exception("inspection listener of %s failed", self.actor_id)
