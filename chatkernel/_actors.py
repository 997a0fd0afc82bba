"""The actor layer python-statemachine lacks: lifecycle, mailboxes, children, snapshots.

An :class:`Actor` drives one :class:`~chatkernel.Machine` from a mailbox processed by its own
task, so ``send`` never blocks and never re-enters the machine; events reach a machine one at
a time and in order. The :class:`ActorRegistry` is the actor system: ids, metadata, the
inspection stream and the ``feature.{id}.active_actors`` gauge.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from statemachine import StateChart
from statemachine.model import Model
from statemachine.orderedset import OrderedSet

from ._bus import EventBus
from ._causality import current_cause
from ._engine import is_stepping, stop_engine
from ._errors import ActorError, SnapshotError
from ._events import Event
from ._inspection import InspectionRecord, TransitionListener, sanitize
from ._machine import Machine
from ._metrics import Metrics, feature_metric
from ._ringbuffer import RingBuffer

__all__ = ["SNAPSHOT_VERSION", "Actor", "ActorInfo", "ActorRegistry"]

log = logging.getLogger("chatkernel.actors")

SNAPSHOT_VERSION = 1
#: Keyword names python-statemachine passes to callbacks itself; data under these names would be
#: replaced or dropped on its way to the machine, so sending it is refused.
RESERVED_KWARGS = frozenset({
    "event", "event_data", "machine", "model", "source", "state", "target", "transition", "error",
    "data", "delay", "send_id", "internal", "trigger_data",
})


Emitter = Callable[..., Event]


def _machine_name(machine: StateChart | type[StateChart]) -> str:
    cls = machine if isinstance(machine, type) else type(machine)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True, slots=True)
class ActorInfo:
    id: str
    type: str
    feature: str | None
    parent: str | None


class Actor:
    """A running machine with an id, a mailbox, a parent and children."""

    def __init__(self, machine: StateChart, actor_id: str, *, system: ActorRegistry, parent: str | None = None,
                 mailbox_limit: int = 10_000, emitter: Emitter | None = None):
        if not isinstance(machine, StateChart):
            raise ActorError(f"actor {actor_id!r} needs a StateChart, got {type(machine).__name__}", actor_id=actor_id)
        self.id = actor_id
        self.machine = machine
        self.system = system
        self.parent = parent
        self.children: list[str] = []
        self.status = "created"
        self.processed = 0
        self.mailbox_limit = mailbox_limit
        self._mailbox: deque[tuple[str, dict[str, Any], tuple[int, str | None] | None]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: How this actor emits as its feature (a feature context fills it); None: straight on the bus.
        self.emitter = emitter
        self._current_event: str | None = None
        self._current_data: Mapping[str, Any] = {}
        listener = getattr(machine, "inspector", None)
        if isinstance(listener, TransitionListener) and listener.sink is None:
            listener.bind(actor_id, system._record)
        else:
            listener = TransitionListener(actor_id, system._record)
            machine.add_listener(listener)
        self._listener = listener
        try:
            machine.actor = self  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a machine with a state named 'actor'
            raise ActorError(f"machine of {actor_id!r} cannot hold an 'actor' attribute", actor_id=actor_id) from None

    # ------------------------------------------------------------------ lifecycle
    @property
    def state(self) -> list[str]:
        """The full active configuration, ancestors included, sorted for stable display."""
        return sorted(self.machine.configuration_values)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the actor runs on, once started (``fire`` hands events over to it)."""
        return self._loop

    @property
    def running(self) -> bool:
        return self.status == "running"

    async def start(self) -> Actor:
        if self.status != "created":
            raise ActorError(f"actor {self.id!r} is {self.status}; it can start only once", actor_id=self.id)
        if not self.machine.configuration_values:
            await self.machine.activate_initial_state()
        self.status = "running"
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"actor:{self.id}")
        self.system._record(InspectionRecord("actor.snapshot", self.id, {
            "event": "start", "source": None, "target": None, "value": self.state, "data": {}}))
        return self

    def stop(self) -> None:
        """Stop children first, then this actor: cancel its mailbox task and its invoked work."""
        if self.status == "stopped":
            return
        for child in list(self.children):
            self.system.unregister(child)
        lost = len(self._mailbox)
        self._mailbox.clear()
        self.status = "stopped"
        if self._task is not None:
            self._task.cancel()
        stop_engine(self.machine)
        self._idle.set()
        self.system._record(InspectionRecord("actor.stopped", self.id, {"unprocessed": lost}))

    # ------------------------------------------------------------------ messaging
    def send(self, event: str, /, **data: Any) -> None:
        """Queue ``event`` for the machine; returns at once. Safe to call from machine callbacks."""
        if self.status == "stopped":
            raise ActorError(f"actor {self.id!r} is stopped; cannot send {event}", actor_id=self.id)
        if not isinstance(event, str) or not event:
            raise ActorError(f"event sent to {self.id!r} must be a non-empty str, got {event!r}", actor_id=self.id)
        if not RESERVED_KWARGS.isdisjoint(data):
            clash = sorted(RESERVED_KWARGS.intersection(data))
            raise ActorError(f"{event} to {self.id!r}: {', '.join(map(repr, clash))} is a name python-statemachine "
                             "passes to callbacks itself; rename the argument", actor_id=self.id)
        if len(self._mailbox) >= self.mailbox_limit:
            raise ActorError(f"mailbox of {self.id!r} is full ({self.mailbox_limit} events)", actor_id=self.id)
        cause = current_cause.get()
        bus_event = data.get("bus_event")
        if isinstance(bus_event, Event):
            cause = (bus_event.id, self.feature)
        self._mailbox.append((event, data, cause))
        self._idle.clear()
        self._wakeup.set()

    @property
    def feature(self) -> str | None:
        info = self.system._info.get(self.id)
        return info.feature if info is not None else None

    def emit(self, event_type: Any, payload: Mapping[str, Any] | None = None, priority: Any = None) -> Event:
        """Dispatch on the bus as this actor's feature (through its emitter when it has one,
        so the feature's declarations apply)."""
        if self.emitter is not None:
            return self.emitter(event_type, payload, priority)
        bus = self.system.bus
        if bus is None:
            raise ActorError(f"actor {self.id!r} has no bus to emit {event_type} on", actor_id=self.id)
        if priority is None:  # a spec carries its priority, even to a bus that does not know it
            priority = getattr(event_type, "priority", None)
        return bus.dispatch(getattr(event_type, "type", event_type), payload, priority,
                            source=self.feature or self.id)

    def send_parent(self, event: str, /, **data: Any) -> None:
        if self.parent is None:
            raise ActorError(f"actor {self.id!r} has no parent", actor_id=self.id)
        self.system.send(self.parent, event, sender=self.id, **data)

    def send_to(self, actor_id: str, event: str, /, **data: Any) -> None:
        """sendTo another actor, recorded as sent by this one."""
        self.system.send(actor_id, event, sender=self.id, **data)

    async def spawn(self, machine: StateChart, actor_id: str, *, type: str = "child") -> Actor:
        """Start a child actor; it is stopped with this one."""
        return await self.system.spawn(machine, actor_id, type=type, feature=self.feature, parent=self.id,
                                       emitter=self.emitter)

    def report_error(self, error: BaseException) -> None:
        """An error inside the machine (a callback, invoked work): reported as FEATURE_ERROR."""
        self.system._failed(self, self._current_event or "", self._current_data, error)

    @property
    def busy(self) -> bool:
        """Events waiting or being processed, or work the machine started that will report back.

        python-statemachine delivers the results of invoked work from its own tasks, outside the
        mailbox, so an empty mailbox alone does not mean the actor is done.
        """
        if not self.running:
            return False
        if not self._idle.is_set():
            return True
        machine = self.machine
        if isinstance(machine, Machine):
            return machine.is_busy()
        return is_stepping(machine)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the actor is no longer :attr:`busy`."""
        async with asyncio.timeout(timeout):
            delay = 0.0
            while self.busy:
                if not self._idle.is_set():
                    await self._idle.wait()
                else:
                    await asyncio.sleep(delay)
                    delay = min(0.01, delay * 2 or 0.0005)

    async def _run(self) -> None:
        machine = self.machine
        while True:
            if not self._mailbox:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event, data, cause = self._mailbox.popleft()
            self._current_event, self._current_data = event, data
            token = current_cause.set(cause) if cause is not None else None
            before = self._listener.transitions
            self.system._record(InspectionRecord("actor.event", self.id, {
                "event": event, "sender": data.get("sender"), "data": sanitize(data)}))
            try:
                await machine.send(event, **data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an actor's failure must not kill its mailbox
                self.system._failed(self, event, data, exc)
            finally:
                self._current_event, self._current_data = None, {}
                if token is not None:
                    current_cause.reset(token)
            self.processed += 1
            if self._listener.transitions == before:
                self.system._record(InspectionRecord("actor.ignored", self.id, {
                    "event": event, "value": self.state}))

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> dict[str, Any]:
        """A versioned, JSON-friendly snapshot: full configuration, history, context, children."""
        machine = self.machine
        fields = getattr(machine, "snapshot_fields", ())
        return {
            "version": SNAPSHOT_VERSION,
            "actor": self.id,
            "feature": self.feature,
            "machine": _machine_name(machine),
            "configuration": self.state,
            "history": {k: [s.id for s in v] for k, v in machine.history_values.items()},
            "context": {name: getattr(machine, name) for name in fields},
            "children": list(self.children),
        }

    def __repr__(self) -> str:
        return f"Actor({self.id!r}, state={self.state}, status={self.status!r})"


class ActorRegistry:
    """All live actors by id, with type/feature metadata and one inspection stream."""

    def __init__(self, *, bus: EventBus | None = None, metrics: Metrics | None = None, history: int = 2_000):
        self.bus = bus
        self.metrics = metrics if metrics is not None else (bus.metrics if bus is not None else Metrics())
        self._actors: dict[str, Actor] = {}
        self._info: dict[str, ActorInfo] = {}
        self.inspection: RingBuffer[InspectionRecord] = RingBuffer(history)
        self._observers: tuple[Callable[[InspectionRecord], Any], ...] = ()

    # ------------------------------------------------------------------ registration
    def register(self, actor_id: str, actor: Actor | StateChart, *, type: str = "feature",
                 feature: str | None = None, parent: str | None = None) -> Actor:
        """Register an actor (or wrap a bare machine in one). Start it with ``await actor.start()``."""
        if not isinstance(actor_id, str) or not actor_id:
            raise ActorError(f"actor id must be a non-empty str, got {actor_id!r}")
        if actor_id in self._actors:
            raise ActorError(f"actor {actor_id!r} is already registered", actor_id=actor_id)
        if parent is not None and parent not in self._actors:
            raise ActorError(f"parent actor {parent!r} of {actor_id!r} is not registered", actor_id=actor_id)
        if isinstance(actor, StateChart):
            actor = Actor(actor, actor_id, system=self, parent=parent)
        elif not isinstance(actor, Actor):
            raise ActorError(f"actor {actor_id!r} must be an Actor or a StateChart, got {actor.__class__.__name__}",
                             actor_id=actor_id)
        elif actor.id != actor_id:
            raise ActorError(f"actor registered as {actor_id!r} has id {actor.id!r}", actor_id=actor_id)
        self._actors[actor_id] = actor
        self._info[actor_id] = ActorInfo(actor_id, type, feature, parent)
        if parent is not None:
            self._actors[parent].children.append(actor_id)
        self._gauge(feature)
        self._record(InspectionRecord("actor.created", actor_id, {
            "type": type, "feature": feature, "parent": parent, "machine": _machine_name(actor.machine)}))
        return actor

    async def spawn(self, machine: StateChart, actor_id: str, *, type: str = "feature", feature: str | None = None,
                    parent: str | None = None, emitter: Emitter | None = None) -> Actor:
        """Register and start in one step; ``emitter`` lets the actor emit as its feature."""
        actor = self.register(actor_id, machine, type=type, feature=feature, parent=parent)
        actor.emitter = emitter
        try:
            await actor.start()
        except BaseException:
            self.unregister(actor_id)
            raise
        return actor

    def unregister(self, actor_id: str) -> None:
        """Stop the actor (and its children) and forget it."""
        actor = self._actors.get(actor_id)
        if actor is None:
            raise ActorError(f"actor {actor_id!r} is not registered", actor_id=actor_id)
        actor.stop()
        del self._actors[actor_id]
        info = self._info.pop(actor_id)
        if info.parent is not None and info.parent in self._actors:
            siblings = self._actors[info.parent].children
            if actor_id in siblings:
                siblings.remove(actor_id)
        self._gauge(info.feature)

    def _gauge(self, feature: str | None) -> None:
        if feature is not None:
            count = sum(1 for i in self._info.values() if i.feature == feature)
            self.metrics.gauge(feature_metric(feature, "active_actors"), count)

    # ------------------------------------------------------------------ lookup
    def get(self, actor_id: str) -> Actor | None:
        return self._actors.get(actor_id)

    def __getitem__(self, actor_id: str) -> Actor:
        actor = self._actors.get(actor_id)
        if actor is None:
            raise ActorError(f"actor {actor_id!r} is not registered", actor_id=actor_id)
        return actor

    def __contains__(self, actor_id: object) -> bool:
        return actor_id in self._actors

    def __len__(self) -> int:
        return len(self._actors)

    def info(self, actor_id: str) -> ActorInfo:
        try:
            return self._info[actor_id]
        except KeyError:
            raise ActorError(f"actor {actor_id!r} is not registered", actor_id=actor_id) from None

    def all(self, *, type: str | None = None, feature: str | None = None) -> list[Actor]:
        return [
            self._actors[i.id] for i in self._info.values()
            if (type is None or i.type == type) and (feature is None or i.feature == feature)
        ]

    # ------------------------------------------------------------------ messaging
    def send(self, to: str, event: str, /, *, sender: str | None = None, **data: Any) -> None:
        """sendTo: deliver ``event`` to actor ``to``, recording who sent it."""
        self[to].send(event, sender=sender, **data)

    @property
    def busy(self) -> bool:
        return any(a.busy for a in list(self._actors.values()))

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until no actor is busy (see :attr:`Actor.busy`)."""
        async with asyncio.timeout(timeout):
            while True:
                busy = [a for a in list(self._actors.values()) if a.busy]
                if not busy:
                    return
                for actor in busy:
                    await actor.settle(timeout)

    # ------------------------------------------------------------------ snapshots
    async def restore(self, snapshot: Mapping[str, Any], machine_factory: Callable[..., StateChart], *,
                      actor_id: str | None = None, type: str = "feature", feature: str | None = None,
                      parent: str | None = None, resume_event: str | None = None,
                      emitter: Emitter | None = None) -> Actor:
        """Rebuild an actor from :meth:`Actor.snapshot` output and start it.

        Restoring does not re-run entry actions or invoked work (python-statemachine semantics):
        pass ``resume_event`` to restart whatever the restored state should be doing.
        """
        if not isinstance(snapshot, Mapping):
            raise SnapshotError(f"a snapshot is a mapping, got {snapshot.__class__.__name__}")
        version = snapshot.get("version")
        if version != SNAPSHOT_VERSION:
            raise SnapshotError(f"snapshot version {version!r} is not supported (expected {SNAPSHOT_VERSION})")
        configuration = snapshot.get("configuration")
        if not isinstance(configuration, list) or not configuration or not all(isinstance(s, str) for s in configuration):
            raise SnapshotError("'configuration' must be a non-empty list of state ids")
        model = Model()
        model.state = configuration[0] if len(configuration) == 1 else OrderedSet(configuration)
        machine = machine_factory(model=model)
        if not isinstance(machine, StateChart):
            raise SnapshotError(f"machine factory returned {machine.__class__.__name__}, not a StateChart")
        expected = snapshot.get("machine")
        if expected != _machine_name(machine):
            raise SnapshotError(f"snapshot is of {expected!r}, not {_machine_name(machine)!r}")
        unknown = [s for s in configuration if s not in machine.states_map]
        if unknown:
            raise SnapshotError(f"states {unknown} do not exist in {_machine_name(machine)}")
        for name, value in dict(snapshot.get("context") or {}).items():
            if name not in getattr(machine, "snapshot_fields", ()):
                raise SnapshotError(f"context field {name!r} is not declared in snapshot_fields")
            setattr(machine, name, value)
        for key, ids in dict(snapshot.get("history") or {}).items():
            machine.history_values[key] = [machine.states_map[i] for i in ids]
        actor = await self.spawn(machine, actor_id or str(snapshot.get("actor")), type=type, feature=feature,
                                 parent=parent, emitter=emitter)
        if resume_event is not None:
            actor.send(resume_event)
        return actor

    # ------------------------------------------------------------------ inspection
    def inspect(self, observer: Callable[[InspectionRecord], Any]) -> Callable[[], None]:
        """Stream every inspection record to ``observer``; returns a function that stops it."""
        self._observers = (*self._observers, observer)

        def remove() -> None:
            self._observers = tuple(o for o in self._observers if o is not observer)

        return remove

    def _record(self, record: InspectionRecord) -> None:
        self.inspection.append(record)
        for observer in self._observers:
            try:
                observer(record)
            except Exception:  # noqa: BLE001 - observers are display code
                log.exception("inspection observer %r failed", observer)

    def _failed(self, actor: Actor, event: str, data: Mapping[str, Any], exc: BaseException) -> None:
        info = self._info.get(actor.id)
        self._record(InspectionRecord("actor.error", actor.id, {
            "event": event, "error_type": type(exc).__name__, "error": str(exc)}))
        bus_event = data.get("bus_event")
        if self.bus is not None:
            self.bus.report_failure(info.feature if info else actor.id,
                                    bus_event if isinstance(bus_event, Event) else None, exc)
        else:
            log.error("actor %s failed on %s: %r", actor.id, event, exc)

    def table(self) -> list[dict[str, Any]]:
        """One row per actor, sorted by id: what the tour notebook shows."""
        return [
            {"id": i.id, "type": i.type, "feature": i.feature, "parent": i.parent,
             "state": self._actors[i.id].state, "status": self._actors[i.id].status}
            for i in sorted(self._info.values(), key=lambda i: i.id)
        ]

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(str(c), quote=True)}</td>" for c in (
                r["id"], r["type"], r["feature"] or "", r["parent"] or "", ", ".join(map(str, r["state"])),
                r["status"])) + "</tr>"
            for r in self.table()
        )
        return ("<table class='chatkernel-actors'><thead><tr><th>actor</th><th>type</th><th>feature</th>"
                f"<th>parent</th><th>state</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>")

    def __repr__(self) -> str:
        lines = [f"ActorRegistry({len(self)} actors)"]
        lines += [f"  {r['id']}: {', '.join(r['state'])} ({r['status']})" for r in self.table()]
        return "\n".join(lines)
