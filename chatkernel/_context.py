"""What a feature sees of the kernel: a context scoped to that one feature.

The context stamps the feature as the source of what it emits, tracks its subscriptions and
actors so unmount can clean up, and lets it reach only the dependencies it declared.
"""

from __future__ import annotations

import logging
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from statemachine import StateChart

from ._errors import FeatureContractError
from ._events import KERNEL_EVENTS, Event, Priority
from ._metrics import feature_metric

if TYPE_CHECKING:
    from ._actors import Actor, ActorRegistry
    from ._bus import EventBus, Subscription
    from ._feature import Feature, MountResult
    from ._registry import FeatureRegistry

__all__ = ["FeatureContext"]


class FeatureContext:
    """Handed to ``on_register``, ``on_mount`` and ``on_unmount`` of one feature."""

    def __init__(self, feature: Feature, *, registry: FeatureRegistry, settings: Mapping[str, Any]):
        self.feature = feature
        self.registry = registry
        self.bus: EventBus = registry.bus
        self.actors: ActorRegistry = registry.actors
        self.metrics = registry.metrics
        self.settings = dict(settings)
        self.logger = logging.getLogger(f"chatkernel.features.{feature.id}")
        self.mount_result: MountResult | None = None
        #: Where this feature may keep files (``<state_dir>/<feature id>/``); None: memory only.
        self.state_dir: Path | None = (
            registry.state_dir / feature.id if registry.state_dir is not None else None)
        self._declared = frozenset(feature.emitted_events) | KERNEL_EVENTS
        self._warned: set[str] = set()

    @property
    def feature_id(self) -> str:
        return self.feature.id

    def emit(self, event_type: str, payload: Mapping[str, Any] | None = None,
             priority: Priority | str = Priority.MEDIUM) -> Event:
        """Dispatch with this feature as the source; undeclared types are recorded, not refused."""
        if event_type not in self._declared:
            self.metrics.increment(feature_metric(self.feature.id, "undeclared_events", str(event_type)))
            if event_type not in self._warned:
                self._warned.add(event_type)
                self.logger.warning("%s emitted %s, which is not in its emitted_events", self.feature.id, event_type)
        return self.bus.dispatch(event_type, payload, priority, source=self.feature.id)

    def subscribe(self, event_type: str, handler: Callable[[Event], Any]) -> Subscription:
        """An extra subscription owned by this feature; removed automatically on unmount."""
        return self.bus.subscribe(event_type, handler, owner=self.feature.id)

    async def spawn(self, machine: StateChart, actor_id: str | None = None, *, type: str = "feature") -> Actor:
        """Start an actor that belongs to this feature (stopped automatically on unmount)."""
        return await self.actors.spawn(machine, actor_id or self.feature.id, type=type, feature=self.feature.id,
                                       context=self)

    def dependency(self, feature_id: str) -> MountResult:
        """The mount result of a declared dependency; reaching an undeclared one is a contract error."""
        if feature_id not in self.feature.dependencies:
            raise FeatureContractError(
                f"feature {self.feature.id!r} asked for {feature_id!r}, which is not in its dependencies",
                feature_id=self.feature.id, field="dependencies",
            )
        result = self.registry.mount_result(feature_id)
        if result is None:
            raise FeatureContractError(f"dependency {feature_id!r} of {self.feature.id!r} is not mounted",
                                       feature_id=self.feature.id, field="dependencies")
        return result

    def __repr__(self) -> str:
        return f"FeatureContext({self.feature.id!r})"
