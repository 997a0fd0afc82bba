"""The base class every feature state machine derives from.

It fixes the python-statemachine settings the brief's pitfalls call for: the async engine
always (so invokes are asyncio tasks on the kernel's loop), seed-shaped trap states allowed,
self-transitions that do not re-enter (which would restart invokes without cancelling them),
and errors raised inside callbacks reported to whoever drives the machine instead of vanishing
into an unhandled ``error.execution`` event.

A machine does not know the actor layer: it talks to the :class:`MachineHost` it is attached
to (an actor fills that Protocol), so machines can be built and tested on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from statemachine import StateChart

from ._engine import KernelEngineMixin, is_stepping
from ._errors import ActorError
from ._inspection import TransitionListener

if TYPE_CHECKING:
    from ._events import Event

__all__ = ["Machine", "MachineHost", "bus_payload"]


def bus_payload(bus_event: Event | None) -> dict[str, Any]:
    """A copy of the payload of the bus event a callback handles (``bus_event``); empty for a
    command sent straight to the actor."""
    return dict(bus_event.payload) if bus_event is not None else {}


class MachineHost(Protocol):
    """What a machine may ask of the actor that drives it."""

    id: str
    children: list[str]

    def emit(self, event_type: Any, payload: Mapping[str, Any] | None = None, priority: Any = None) -> Any: ...

    def send_parent(self, event: str, /, **data: Any) -> None: ...

    def send_to(self, actor_id: str, event: str, /, **data: Any) -> None: ...

    async def spawn(self, machine: StateChart, actor_id: str, *, type: str = "child") -> Any: ...

    def report_error(self, error: BaseException) -> None: ...


class Machine(KernelEngineMixin, StateChart):
    """A StateChart on the async engine that emits, spawns and reports through its host.

    ``snapshot_fields`` names the attributes that form the machine's context: they are saved in
    snapshots and written back on restore. Subscribed bus events arrive as
    ``send(TYPE, bus_event=event)``; read the payload from ``bus_event.payload``.
    """

    validate_trap_states = False
    validate_final_reachability = False
    enable_self_transition_entries = False
    snapshot_fields: ClassVar[tuple[str, ...]] = ()
    #: States whose invoked work finishes by itself (loading, saving...): ``settle()`` waits them out.
    busy_states: ClassVar[frozenset[str]] = frozenset()

    #: The actor driving this machine, once attached.
    actor: MachineHost | None = None

    def __init__(self, *args: Any, listeners: list[object] | None = None, **kwargs: Any):
        self.inspector = TransitionListener()
        super().__init__(*args, listeners=[self.inspector, *(listeners or [])], **kwargs)

    # ------------------------------------------------------------------ talking to the host
    def emit(self, event_type: Any, payload: Mapping[str, Any] | None = None, priority: Any = None) -> Any:
        """Dispatch on the bus as this machine's feature (an ``EventSpec`` or its type name);
        the priority defaults to the spec's."""
        if self.actor is None:
            raise ActorError(f"{type(self).__name__} is not driven by an actor; cannot emit {event_type}")
        if priority is None:
            priority = getattr(event_type, "priority", None)
        return self.actor.emit(event_type, payload, priority)

    def send(self, event: str, *args: Any, **kwargs: Any) -> Any:
        # Invoked work that fails reports back with send("error.execution"), not through the
        # engine's error handlers: hear it here too.
        if event == "error.execution" and isinstance(kwargs.get("error"), Exception):
            self._execution_error(kwargs["error"])
        return super().send(event, *args, **kwargs)

    def _execution_error(self, error: Exception) -> None:
        if self.actor is not None:
            self.actor.report_error(error)

    # ------------------------------------------------------------------ progress
    def is_stepping(self) -> bool:
        """True while the engine is in the middle of a step."""
        return is_stepping(self)

    def is_busy(self) -> bool:
        """True while a step runs or a busy state's work is pending; override to add more."""
        if self.is_stepping():
            return True
        return bool(self.busy_states) and not self.busy_states.isdisjoint(self.configuration_values)
