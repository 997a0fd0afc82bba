"""The priority event bus: the only way features talk to each other.

Three FIFO queues (HIGH, MEDIUM, LOW) are drained in strict priority order in batches on the
running asyncio loop, so a burst never starves the kernel's other tasks. Over its limit a LOW
or MEDIUM event is dropped into a bounded record; HIGH is never dropped. A handler that raises
is isolated and reported as a ``FEATURE_ERROR`` event.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ._budget import PerformanceBudget
from ._causality import current_cause
from ._errors import InvalidEventError
from ._events import (
    EMPTY_PAYLOAD,
    FEATURE_ERROR,
    Event,
    Priority,
    _valid_types,
    check_event_type,
    parse_priority,
)
from ._metrics import Metrics, feature_metric
from ._ringbuffer import RingBuffer
from ._specs import SpecCatalog

__all__ = ["BusStats", "EventBus", "HandlerFailure", "Subscription"]

log = logging.getLogger("chatkernel.bus")

Handler = Callable[[Event], "Awaitable[Any] | Any"]
Tap = Callable[[Event, str], Any]

_new_event = tuple.__new__

DEFAULT_LIMITS = {Priority.HIGH: 10_000, Priority.MEDIUM: 5_000, Priority.LOW: 1_000}
_HIGH, _MEDIUM, _LOW = Priority.HIGH, Priority.MEDIUM, Priority.LOW


class Subscription:
    """A handle returned by :meth:`EventBus.subscribe`; ``cancel()`` unsubscribes."""

    __slots__ = ("event_type", "handler", "owner", "_bus")

    def __init__(self, bus: EventBus, event_type: str, handler: Handler, owner: str | None):
        self._bus = bus
        self.event_type = event_type
        self.handler = handler
        self.owner = owner

    @property
    def active(self) -> bool:
        return self in self._bus._handlers.get(self.event_type, ())

    def cancel(self) -> None:
        self._bus.unsubscribe(self)

    def __repr__(self) -> str:
        return f"Subscription({self.event_type!r}, owner={self.owner!r})"


@dataclass(frozen=True, slots=True)
class HandlerFailure:
    """What the bus remembers about a handler that raised."""

    owner: str | None
    event_type: str | None
    event_id: int | None
    error_type: str
    error: str


@dataclass(frozen=True)
class BusStats:
    """A point-in-time view of the bus, shown as a table in notebooks."""

    processed: Mapping[str, int]
    dropped: Mapping[str, int]
    queued: Mapping[str, int]
    limits: Mapping[str, int]
    high_water: Mapping[str, int]
    high_over_limit: int
    handler_errors: int
    pending_tasks: int
    subscriptions: int

    @property
    def total_processed(self) -> int:
        return sum(self.processed.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def _rows(self) -> list[tuple[str, int, int, int, int, int]]:
        return [
            (p.name, self.processed[p.name], self.dropped[p.name], self.queued[p.name],
             self.high_water[p.name], self.limits[p.name])
            for p in Priority
        ]

    def __str__(self) -> str:
        lines = [f"{'priority':<8} {'processed':>10} {'dropped':>8} {'queued':>7} {'peak':>7} {'limit':>7}"]
        lines += [f"{r[0]:<8} {r[1]:>10} {r[2]:>8} {r[3]:>7} {r[4]:>7} {r[5]:>7}" for r in self._rows()]
        lines.append(
            f"handler errors: {self.handler_errors}  HIGH over limit: {self.high_over_limit}  "
            f"subscriptions: {self.subscriptions}"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("priority", "processed", "dropped", "queued", "peak", "limit"))
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in self._rows())
        return (
            f"<table class='chatkernel-bus-stats'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>handler errors: {self.handler_errors} &middot; HIGH over limit: {self.high_over_limit}"
            f" &middot; subscriptions: {self.subscriptions}</p>"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


class EventBus:
    """Priority queues with backpressure, stats, taps and isolated handlers.

    ``dispatch`` never blocks and never runs handlers inline: delivery happens in batches of
    ``batch_size`` on the running loop (or in :meth:`drain`), which keeps causality readable
    and lets a HIGH event overtake any backlog.

    ``catalog`` holds the declared event specs; in ``strict`` mode every dispatch is checked
    against them (an undeclared type, a wrong priority or a payload that does not match is
    refused with :class:`PayloadError` / :class:`InvalidEventError`), otherwise specs only
    supply default priorities.
    """

    def __init__(
        self,
        *,
        limits: Mapping[Priority | str, int] | None = None,
        dropped_history: int = 1_000,
        error_history: int = 1_000,
        batch_size: int = 512,
        budget: PerformanceBudget | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        strict: bool = False,
        catalog: SpecCatalog | None = None,
    ):
        self._limits = [DEFAULT_LIMITS[p] for p in Priority]
        for key, value in (limits or {}).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"limit for {key} must be a positive int, got {value!r}")
            self._limits[parse_priority(key)] = value
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = batch_size
        self.metrics = metrics if metrics is not None else Metrics()
        self.budget = budget
        self._clock = clock
        self.strict = bool(strict)
        self.catalog = catalog if catalog is not None else SpecCatalog()
        self._specs = self.catalog.specs
        self._priorities = self.catalog.priorities
        self._queues: tuple[deque[Event], deque[Event], deque[Event]] = (deque(), deque(), deque())
        self._handlers: dict[str, tuple[Subscription, ...]] = {}
        self._taps: tuple[Tap, ...] = ()
        self.dropped: RingBuffer[Event] = RingBuffer(dropped_history)
        self.errors: RingBuffer[HandlerFailure] = RingBuffer(error_history)
        self._processed = [0, 0, 0]
        self._dropped = [0, 0, 0]
        self._high_water = [0, 0, 0]
        self._high_over_limit = 0
        self._handler_errors = 0
        self._ids = itertools.count(1)
        self._current: Event | None = None
        self._current_owner: str | None = None
        self._scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def limits(self) -> dict[str, int]:
        return {p.name: self._limits[p] for p in Priority}

    def subscribe(self, event_type: str, handler: Handler, *, owner: str | None = None) -> Subscription:
        """Call ``handler(event)`` for every event of ``event_type``; async handlers become tasks."""
        check_event_type(event_type)
        if not callable(handler):
            raise TypeError(f"handler for {event_type} must be callable, got {type(handler).__name__}")
        sub = Subscription(self, event_type, handler, owner)
        self._handlers[event_type] = (*self._handlers.get(event_type, ()), sub)
        return sub

    def unsubscribe(self, subscription: Subscription) -> bool:
        """Remove one subscription; returns False if it was not active."""
        subs = self._handlers.get(subscription.event_type, ())
        if subscription not in subs:
            return False
        remaining = tuple(s for s in subs if s is not subscription)
        if remaining:
            self._handlers[subscription.event_type] = remaining
        else:
            del self._handlers[subscription.event_type]
        return True

    def unsubscribe_owner(self, owner: str) -> int:
        """Remove every subscription of ``owner`` (a feature being unmounted); returns how many."""
        removed = 0
        for event_type, subs in list(self._handlers.items()):
            kept = tuple(s for s in subs if s.owner != owner)
            removed += len(subs) - len(kept)
            if kept:
                self._handlers[event_type] = kept
            else:
                del self._handlers[event_type]
        return removed

    def subscriptions(self, event_type: str | None = None) -> list[Subscription]:
        if event_type is not None:
            return list(self._handlers.get(event_type, ()))
        return [s for subs in self._handlers.values() for s in subs]

    def tap(self, observer: Tap) -> Callable[[], None]:
        """See every event: ``observer(event, outcome)`` with outcome dispatched/delivered/dropped.

        Returns a function that removes the tap. A tap that raises is logged and ignored.
        """
        if not callable(observer):
            raise TypeError("tap observer must be callable")
        self._taps = (*self._taps, observer)

        def remove() -> None:
            self._taps = tuple(t for t in self._taps if t is not observer)

        return remove

    # ------------------------------------------------------------------ dispatch
    def dispatch(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        priority: Priority | str | None = None,
        *,
        source: str | None = None,
    ) -> Event:
        """Queue an event and return it (stamped). Dropped events are returned too, and recorded.

        ``priority`` defaults to the one the type's spec declares (MEDIUM for an undeclared type).
        """
        try:
            if priority is None:  # the declared one; an undeclared name is checked on first sight (MEDIUM)
                priority = self._priorities[event_type]
            else:
                if event_type not in _valid_types:
                    check_event_type(event_type)
                if priority.__class__ is not Priority:
                    priority = parse_priority(priority)
        except TypeError:  # unhashable: not a type name at all
            check_event_type(event_type)
            raise
        if payload is None:
            payload = EMPTY_PAYLOAD
        elif payload.__class__ is dict:
            payload = MappingProxyType(payload.copy())
        elif payload.__class__ is not MappingProxyType:
            if not isinstance(payload, Mapping):
                raise InvalidEventError(
                    f"payload of {event_type} must be a mapping, got {type(payload).__name__}",
                    event_type=event_type,
                )
            payload = MappingProxyType(dict(payload))
        if self.strict:
            self._validate(event_type, payload, priority)  # type: ignore[arg-type]
        current = self._current
        if current is not None:
            cause: int | None = current.id
            if source is None:
                source = self._current_owner
        else:
            ctx = current_cause.get()
            if ctx is None:
                cause = None
            else:
                cause = ctx[0]
                if source is None:
                    source = ctx[1]
        event = _new_event(Event, (event_type, payload, priority, next(self._ids), source, self._clock(), cause))
        queue = self._queues[priority]
        depth = len(queue)
        if depth >= self._limits[priority]:
            if priority is not _HIGH:
                self._drop(event)
                return event
            self._high_over_limit += 1
            if self._high_over_limit == 1 or self._high_over_limit % 10_000 == 0:
                log.warning("HIGH queue over its limit (%d); HIGH events are never dropped", depth)
        queue.append(event)
        if depth >= self._high_water[priority]:
            self._high_water[priority] = depth + 1
        if self._taps:
            self._notify(event, "dispatched")
        if not self._scheduled:
            self._schedule()
        return event

    def _validate(self, event_type: str, payload: Mapping[str, Any], priority: Priority) -> None:
        spec = self._specs.get(event_type)
        if spec is None:
            raise InvalidEventError(f"{event_type} has no spec: declare it in the emitting feature's events.py "
                                    "(strict mode)", event_type=event_type)
        if priority is not spec.priority:
            raise InvalidEventError(f"{event_type} is declared {spec.priority.name}, "  # type: ignore[union-attr]
                                    f"dispatched {priority.name} (strict mode)", event_type=event_type)
        spec.check(payload)

    def dispatch_threadsafe(
        self, event_type: str, payload: Mapping[str, Any] | None = None, priority: Priority | str | None = None,
        *, source: str | None = None,
    ) -> None:
        """Dispatch from another thread: the event is handed to the bus's loop."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("the bus has no running loop to hand the event to; dispatch on the loop instead")
        loop.call_soon_threadsafe(lambda: self.dispatch(event_type, payload, priority, source=source))

    def _drop(self, event: Event) -> None:
        self._dropped[event.priority] += 1
        self.dropped.append(event)
        if self._taps:
            self._notify(event, "dropped")

    def _schedule(self) -> None:
        loop = asyncio._get_running_loop()  # None outside a loop; no exception on the hot path
        if loop is None:
            loop = self._loop
            if loop is not None and loop.is_running():  # running in another thread: hand over
                self._scheduled = True
                loop.call_soon_threadsafe(self._run_batch)
            return  # no loop: events wait for drain()
        self._loop = loop
        self._scheduled = True
        loop.call_soon(self._run_batch)

    def _run_batch(self) -> None:
        self._scheduled = False
        self._process(self.batch_size)
        q = self._queues
        if (q[0] or q[1] or q[2]) and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run_batch)

    # ------------------------------------------------------------------ delivery
    def _process(self, limit: int) -> int:
        """Deliver up to ``limit`` events in priority order; the hot loop, so delivery is inline."""
        high, medium, low = self._queues
        handlers = self._handlers
        processed = self._processed
        budget = self.budget
        prev, prev_owner = self._current, self._current_owner
        n = 0
        try:
            while n < limit:
                if high:
                    event = high.popleft()
                elif medium:
                    event = medium.popleft()
                elif low:
                    event = low.popleft()
                else:
                    break
                n += 1
                subs = handlers.get(event.type)
                if subs:
                    self._current = event
                    for sub in subs:
                        self._current_owner = sub.owner
                        started = time.perf_counter() if budget is not None else 0.0
                        try:
                            result = sub.handler(event)
                        except Exception as exc:  # noqa: BLE001 - isolation is the point
                            self._failed(sub.owner, event, exc)
                        else:
                            if result is not None and asyncio.iscoroutine(result):
                                self._spawn(result, sub.owner, event)
                        if budget is not None:
                            budget.check(sub.owner or "bus", "handler", (time.perf_counter() - started) * 1000.0)
                    self._current, self._current_owner = prev, prev_owner
                processed[event.priority] += 1
                if self._taps:
                    self._notify(event, "delivered")
        finally:
            self._current, self._current_owner = prev, prev_owner
        return n

    def _spawn(self, coro: Any, owner: str | None, event: Event) -> None:
        token = current_cause.set((event.id, owner))
        try:
            ctx = contextvars.copy_context()
        finally:
            current_cause.reset(token)
        try:
            task = asyncio.get_running_loop().create_task(coro, context=ctx)
        except RuntimeError:
            coro.close()
            self._failed(owner, event, RuntimeError("async handler needs a running event loop"))
            return
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, owner, event))

    def _task_done(self, task: asyncio.Task[Any], owner: str | None, event: Event) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failed(owner, event, task.exception())  # type: ignore[arg-type]

    def report_failure(self, owner: str | None, event: Event | None, exc: BaseException) -> None:
        """Record a failure that happened on the bus's behalf (an actor, a hook) as FEATURE_ERROR."""
        self._failed(owner, event, exc)

    def _failed(self, owner: str | None, event: Event | None, exc: BaseException) -> None:
        self._handler_errors += 1
        event_type = event.type if event is not None else None
        event_id = event.id if event is not None else None
        failure = HandlerFailure(owner, event_type, event_id, type(exc).__name__, str(exc))
        self.errors.append(failure)
        if owner is not None:
            self.metrics.increment(feature_metric(owner, "errors"))
        log.error("handler of %s for %s failed: %s: %s", owner or "?", event_type or "-", failure.error_type, exc)
        if event_type == FEATURE_ERROR:
            return  # an error handler that fails must not feed itself
        self.dispatch(
            FEATURE_ERROR,
            {
                "feature": owner,
                "phase": "handler",
                "event_type": event_type,
                "event_id": event_id,
                "error_type": failure.error_type,
                "error": failure.error,
            },
            _HIGH,
            source="kernel",
        )

    def _notify(self, event: Event, outcome: str) -> None:
        for observer in self._taps:
            try:
                observer(event, outcome)
            except Exception:  # noqa: BLE001 - the explorer must never break delivery
                log.exception("bus tap %r failed", observer)

    # ------------------------------------------------------------------ inspection
    @property
    def busy(self) -> bool:
        """Events queued or async handlers still running."""
        return bool(self.pending or self._tasks)

    @property
    def pending(self) -> int:
        return len(self._queues[0]) + len(self._queues[1]) + len(self._queues[2])

    def stats(self) -> BusStats:
        names = [p.name for p in Priority]
        return BusStats(
            processed=dict(zip(names, self._processed)),
            dropped=dict(zip(names, self._dropped)),
            queued={p.name: len(self._queues[p]) for p in Priority},
            limits=self.limits,
            high_water=dict(zip(names, self._high_water)),
            high_over_limit=self._high_over_limit,
            handler_errors=self._handler_errors,
            pending_tasks=len(self._tasks),
            subscriptions=sum(len(s) for s in self._handlers.values()),
        )

    async def drain(self, *, timeout: float | None = 10.0) -> None:
        """Deliver everything queued, await async handlers, repeat until quiet (for tests, cells)."""

        async def run() -> None:
            while True:
                while self.pending:
                    self._process(self.batch_size)
                    await asyncio.sleep(0)
                if self._tasks:
                    await asyncio.wait(list(self._tasks))
                    continue
                await asyncio.sleep(0)
                if not self.pending and not self._tasks:
                    return

        await asyncio.wait_for(run(), timeout)

    def __repr__(self) -> str:
        return f"EventBus(pending={self.pending}, subscriptions={sum(len(s) for s in self._handlers.values())})"
