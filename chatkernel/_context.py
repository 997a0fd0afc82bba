"""What a feature sees of the kernel: a context scoped to that one feature.

The context stamps the feature as the source of what it emits, tracks its subscriptions, actors
and tasks so unmount can clean up, hands it its typed settings and saved snapshots, and lets it
reach only the dependencies it declared, typed by the Protocol it required of them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from statemachine import StateChart

from ._actors import Actor, ActorRegistry
from ._bus import EventBus, Subscription
from ._causality import spawn_task
from ._errors import FeatureContractError, InvalidEventError
from ._events import Event, Priority
from ._feature import Feature, MountResult
from ._metrics import Metrics, feature_metric
from ._services import check_service

__all__ = ["FeatureContext"]

T = TypeVar("T")


class FeatureContext:
    """Handed to ``on_register``, ``on_mount`` and ``on_unmount`` of one feature."""

    def __init__(self, feature: Feature, *, bus: EventBus, actors: ActorRegistry, metrics: Metrics,
                 settings: Any = None, state_dir: Path | None = None,
                 resolve: Callable[[str], MountResult | None] = lambda _: None,
                 saved_snapshots: Mapping[str, Mapping[str, Any]] | None = None):
        self.feature = feature
        self.bus = bus
        self.actors = actors
        self.metrics = metrics
        #: The feature's settings record: its contract's defaults with this app's overrides applied.
        self.settings = settings
        self.mount_result: MountResult | None = None
        #: Where this feature may keep files (``<state_dir>/<feature id>/``); None: memory only.
        self.state_dir: Path | None = state_dir / feature.id if state_dir is not None else None
        #: Snapshots of this feature's actors saved at the last shutdown (rehydrate), by actor id.
        self.saved_snapshots: Mapping[str, Mapping[str, Any]] = dict(saved_snapshots or {})
        self._resolve = resolve
        self._declared = frozenset(feature.emitted_types)
        self._warned: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def feature_id(self) -> str:
        return self.feature.id

    @functools.cached_property
    def logger(self) -> logging.Logger:
        """``chatkernel.features.<id>``, looked up when first used."""
        return logging.getLogger(f"chatkernel.features.{self.feature.id}")

    @property
    def saved_snapshot(self) -> Mapping[str, Any] | None:
        """The snapshot of the feature's own actor (id = feature id) from the last run, if any."""
        return self.saved_snapshots.get(self.feature.id)

    # ------------------------------------------------------------------ events
    def emit(self, event_type: Any, payload: Mapping[str, Any] | None = None,
             priority: Priority | str | None = None) -> Event:
        """Dispatch with this feature as the source. ``event_type`` is an EventSpec or its type name;
        a type the feature did not declare is refused in strict mode, counted and logged otherwise."""
        if priority is None:
            priority = getattr(event_type, "priority", None)
        event_type = getattr(event_type, "type", event_type)
        if event_type not in self._declared:
            if self.bus.strict:
                raise InvalidEventError(f"feature {self.feature.id!r} emitted {event_type}, which is not in its "
                                        "emitted_events (strict mode)", event_type=event_type)
            self.metrics.increment(feature_metric(self.feature.id, "undeclared_events", str(event_type)))
            if event_type not in self._warned:
                self._warned.add(event_type)
                self.logger.warning("%s emitted %s, which is not in its emitted_events", self.feature.id, event_type)
        return self.bus.dispatch(event_type, payload, priority, source=self.feature.id)

    def subscribe(self, event_type: str, handler: Callable[[Event], Any]) -> Subscription:
        """An extra subscription owned by this feature; removed automatically on unmount."""
        return self.bus.subscribe(event_type, handler, owner=self.feature.id)

    # ------------------------------------------------------------------ actors and tasks
    async def spawn(self, machine: StateChart, actor_id: str | None = None, *, type: str = "feature") -> Actor:
        """Start an actor that belongs to this feature (stopped automatically on unmount)."""
        return await self.actors.spawn(machine, actor_id or self.feature.id, type=type, feature=self.feature.id,
                                       emitter=self.emit)

    async def resume(self, machine_factory: Callable[..., StateChart], actor_id: str | None = None, *,
                     type: str = "feature", resume_event: str | None = None) -> Actor:
        """Restore the actor from its saved snapshot (rehydrate) or start it fresh.

        ``machine_factory(**kwargs)`` builds the machine; on restore it gets ``model=`` too.
        ``resume_event`` is sent after a restore, to restart the work the state was doing.
        """
        actor_id = actor_id or self.feature.id
        snapshot = self.saved_snapshots.get(actor_id)
        if snapshot is None:
            return await self.spawn(machine_factory(), actor_id, type=type)
        return await self.actors.restore(snapshot, machine_factory, actor_id=actor_id, type=type,
                                         feature=self.feature.id, resume_event=resume_event, emitter=self.emit)

    def start_task(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Long-lived work (a loop, a watcher): a new causal chain, cancelled on unmount."""
        task = spawn_task(coro, name=name or f"{self.feature.id}:task")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ dependencies
    def dependency(self, feature_id: str, protocol: type[T] | None = None) -> T | Any:
        """The service of a declared dependency, checked against the Protocol the contract requires.

        Pass the Protocol as ``protocol`` to get a typed object back; reaching an undeclared
        dependency, or naming a Protocol other than the required one, is a contract error.
        """
        if feature_id not in self.feature.dependencies:
            raise FeatureContractError(
                f"feature {self.feature.id!r} asked for {feature_id!r}, which is not in its dependencies",
                feature_id=self.feature.id, field="dependencies",
            )
        required = self.feature.requires.get(feature_id)
        if protocol is not None and required is not None and protocol is not required:
            raise FeatureContractError(
                f"feature {self.feature.id!r} asked for {feature_id!r} as {protocol.__name__}, but its contract "
                f"requires {required.__name__}", feature_id=self.feature.id, field="requires")
        result = self._resolve(feature_id)
        if result is None:
            raise FeatureContractError(f"dependency {feature_id!r} of {self.feature.id!r} is not mounted",
                                       feature_id=self.feature.id, field="dependencies")
        wanted = protocol or required
        if wanted is not None and wanted is not required:
            check_service(self.feature.id, feature_id, result.service, wanted)
        return cast(T, result.service)

    def __repr__(self) -> str:
        return f"FeatureContext({self.feature.id!r})"
