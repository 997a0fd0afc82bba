"""The feature registry: the one place that knows every feature.

It validates contracts, orders features by their dependencies, mounts them in that order
inside an error boundary (a failing feature degrades the app instead of sinking it), routes
each feature's subscribed events to its actor, and hot-reloads a feature with ``replace``.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import time
from pathlib import Path
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any

from statemachine import StateChart

from ._actors import Actor, ActorRegistry
from ._budget import PerformanceBudget
from ._bus import EventBus
from ._context import FeatureContext
from ._errors import (
    DependencyCycleError,
    DuplicateFeatureError,
    FeatureContractError,
    MissingDependencyError,
    ServiceContractError,
    UnknownFeatureError,
)
from ._events import APP_READY, FEATURE_ERROR, FEATURE_MOUNTED, FEATURE_UNMOUNTED, Event, Priority
from ._feature import FEATURE_ID_PATTERN, Feature, MountResult, as_feature
from ._graph import DependencyGraph, GraphNode
from ._metrics import Metrics, feature_metric
from ._report import MountReport
from ._services import check_service
from ._settings import apply_settings
from ._specs import SpecCatalog

__all__ = ["FeatureRegistry", "topological_order"]

log = logging.getLogger("chatkernel.registry")


def topological_order(dependencies: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Dependencies before dependents; ties broken by id so the order never depends on dict order.

    Raises :class:`MissingDependencyError` naming who needs what, or :class:`DependencyCycleError`
    with one real cycle spelled out as a path (``a -> b -> a``).
    """
    for fid in sorted(dependencies):
        for dep in dependencies[fid]:
            if dep not in dependencies:
                raise MissingDependencyError(fid, dep)
    remaining = {fid: len(deps) for fid, deps in dependencies.items()}
    dependents: dict[str, list[str]] = {fid: [] for fid in dependencies}
    for fid, deps in dependencies.items():
        for dep in deps:
            dependents[dep].append(fid)
    ready = [fid for fid, n in remaining.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        fid = heapq.heappop(ready)
        order.append(fid)
        for child in dependents[fid]:
            remaining[child] -= 1
            if remaining[child] == 0:
                heapq.heappush(ready, child)
    if len(order) < len(dependencies):
        stuck = {fid for fid in dependencies if fid not in set(order)}
        raise DependencyCycleError(_find_cycle(dependencies, stuck))
    return order


def _find_cycle(dependencies: Mapping[str, tuple[str, ...]], stuck: set[str]) -> list[str]:
    """Walk dependency edges inside the stuck set until a node repeats: that walk is a cycle."""
    node = min(stuck)
    path: list[str] = []
    seen: dict[str, int] = {}
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(d for d in dependencies[node] if d in stuck)
    return [*path[seen[node]:], node]


class FeatureRegistry:
    """Registers, orders, mounts, unmounts and hot-reloads features."""

    def __init__(
        self,
        *,
        bus: EventBus | None = None,
        actors: ActorRegistry | None = None,
        metrics: Metrics | None = None,
        budget: PerformanceBudget | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        flags: Mapping[str, bool] | None = None,
        state_dir: Path | None = None,
        saved_snapshots: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        self.metrics = metrics if metrics is not None else (bus.metrics if bus is not None else Metrics())
        self.bus = bus if bus is not None else EventBus(metrics=self.metrics)
        self.actors = actors if actors is not None else ActorRegistry(bus=self.bus, metrics=self.metrics)
        self.budget = budget
        self.state_dir = state_dir
        self._overrides = {k: dict(v) for k, v in (settings or {}).items()}
        #: Actor snapshots saved at the last shutdown, handed to each feature as ``ctx.saved_snapshots``.
        self.saved_snapshots = {k: dict(v) for k, v in (saved_snapshots or {}).items()}
        self._flags: dict[str, bool] = {}
        for fid, enabled in (flags or {}).items():
            self.set_enabled(fid, enabled)
        self._features: dict[str, Feature] = {}
        self._records: dict[str, Any] = {}
        self._contexts: dict[str, FeatureContext] = {}
        self._mounted: dict[str, MountResult] = {}
        self._mount_sequence: list[str] = []
        self._register_failed: dict[str, str] = {}
        self._pending_register: dict[str, Awaitable[Any]] = {}
        self.last_report: MountReport | None = None
        #: The APP_READY event once the app is ready: a feature remounted later (hot reload)
        #: is handed it so it can do its start-of-app work too.
        self.ready_event: Event | None = None

    # ------------------------------------------------------------------ registration
    @property
    def catalog(self) -> SpecCatalog:
        """Every declared event type, by declarer (the kernel's and the registered features')."""
        return self.bus.catalog

    def register(self, feature: Feature | Mapping[str, Any]) -> Feature:
        """Validate and add a feature; order does not matter, mounting sorts it out.

        Its settings overrides are checked against its settings record and its event specs against
        every other declarer's, so a bad override or a type declared twice is refused here.
        """
        f = as_feature(feature)
        if f.id in self._features:
            raise DuplicateFeatureError(f.id)
        record = apply_settings(f.id, f.settings, self._overrides.get(f.id))
        self.catalog.declare(f.id, f.emitted_events)
        self._features[f.id] = f
        self._records[f.id] = record
        self._contexts[f.id] = self._new_context(f)
        self._call_on_register(f)
        log.info("feature registered: %s", f.id)
        return f

    def unregister(self, feature_id: str) -> Feature:
        """Forget a feature that is not mounted and that no other feature depends on."""
        f = self.get(feature_id)
        if feature_id in self._mounted:
            raise FeatureContractError(f"feature {feature_id!r} is mounted; unmount it first", feature_id=feature_id)
        users = sorted(fid for fid, other in self._features.items() if feature_id in other.dependencies)
        if users:
            raise FeatureContractError(f"feature {feature_id!r} is needed by {', '.join(users)}", feature_id=feature_id)
        del self._features[feature_id]
        self.catalog.withdraw(feature_id)
        self._records.pop(feature_id, None)
        self._contexts.pop(feature_id, None)
        self._register_failed.pop(feature_id, None)
        self._pending_register.pop(feature_id, None)
        return f

    def settings_for(self, feature_id: str) -> Any:
        """The feature's settings record, overrides applied (None for a feature without settings)."""
        self.get(feature_id)
        return self._records[feature_id]

    def _new_context(self, f: Feature) -> FeatureContext:
        snapshots = {aid: snap for aid, snap in self.saved_snapshots.items()
                     if snap.get("feature", aid) == f.id} if self.saved_snapshots else None
        return FeatureContext(f, bus=self.bus, actors=self.actors, metrics=self.metrics,
                              settings=self._records[f.id], state_dir=self.state_dir, resolve=self.mount_result,
                              saved_snapshots=snapshots)

    def _call_on_register(self, f: Feature) -> None:
        self._register_failed.pop(f.id, None)
        if f.on_register is None:
            return
        try:
            result = f.on_register(self._contexts[f.id])
        except Exception as exc:  # noqa: BLE001 - the error boundary
            self._hook_failed(f.id, "register", exc)
            return
        if inspect.isawaitable(result):
            self._pending_register[f.id] = result

    # ------------------------------------------------------------------ flags
    def set_enabled(self, feature_id: str, enabled: bool) -> None:
        """Feature flag: a disabled feature is not mounted and its dependents are reported skipped."""
        if not isinstance(feature_id, str) or not FEATURE_ID_PATTERN.match(feature_id):
            raise FeatureContractError(f"feature flag names an invalid feature id {feature_id!r}",
                                       feature_id=None, field="flags")
        if not isinstance(enabled, bool):
            raise FeatureContractError(f"feature flag for {feature_id!r} must be true or false, got {enabled!r}",
                                       feature_id=feature_id, field="flags")
        self._flags[feature_id] = enabled

    def is_enabled(self, feature_id: str) -> bool:
        return self._flags.get(feature_id, True)

    # ------------------------------------------------------------------ lookup
    def get(self, feature_id: str) -> Feature:
        try:
            return self._features[feature_id]
        except KeyError:
            raise UnknownFeatureError(feature_id) from None

    def has(self, feature_id: str) -> bool:
        return feature_id in self._features

    __contains__ = has

    def __iter__(self) -> Iterator[Feature]:
        return iter(list(self._features.values()))

    def __len__(self) -> int:
        return len(self._features)

    def all(self) -> list[Feature]:
        return list(self._features.values())

    def is_mounted(self, feature_id: str) -> bool:
        return feature_id in self._mounted

    def mount_result(self, feature_id: str) -> MountResult | None:
        return self._mounted.get(feature_id)

    def context(self, feature_id: str) -> FeatureContext:
        self.get(feature_id)
        return self._contexts[feature_id]

    def order(self) -> list[str]:
        """Mount order of every registered feature (see :func:`topological_order`)."""
        return topological_order({fid: f.dependencies for fid, f in self._features.items()})

    def dependents(self, feature_id: str) -> list[str]:
        """Features that need ``feature_id``, directly or not, in mount order."""
        needed = {feature_id}
        out = []
        for fid in self.order():
            if any(d in needed for d in self._features[fid].dependencies):
                needed.add(fid)
                out.append(fid)
        return out

    # ------------------------------------------------------------------ mounting
    async def mount_all(self) -> MountReport:
        """Mount every enabled feature in dependency order; failures degrade, never abort.

        A cycle or a missing dependency is a configuration error and raises before anything mounts.
        """
        report = MountReport(order=self.order())
        await self._mount_in_order(report.order, report)
        report.unheard = self.unheard()
        if report.unheard:  # one line, however many: this is a report, not an error
            log.warning("subscribed types that no mounted feature declares: %s",
                        "; ".join(f"{fid}: {', '.join(types)}" for fid, types in report.unheard.items()))
        self.last_report = report
        return report

    def unheard(self) -> dict[str, list[str]]:
        """Subscribed types that nothing declares, or only a feature that is not mounted, by subscriber.

        Declarers that are not features (the kernel, the notebook's user) always count.
        """
        out: dict[str, list[str]] = {}
        for fid in self._mounted:
            missing = [t for t in self._features[fid].subscribed_events
                       if (owner := self.catalog.owner(t)) is None
                       or (owner in self._features and owner not in self._mounted)]
            if missing:
                out[fid] = missing
        return out

    async def _mount_in_order(self, order: list[str], report: MountReport) -> None:
        for fid in order:
            if fid in self._mounted:
                report.mounted.append(fid)
                continue
            if not self.is_enabled(fid):
                report.disabled.append(fid)
                log.info("feature %s is disabled by configuration", fid)
                continue
            blocked = self._blocked_by(fid, report)
            if blocked:
                report.skipped[fid] = blocked
                log.warning("feature %s skipped: %s", fid, blocked)
                continue
            error = await self._mount_one(fid, report)
            if error is None:
                report.mounted.append(fid)
            else:
                report.failed[fid] = error

    def _blocked_by(self, fid: str, report: MountReport) -> str | None:
        for dep in self._features[fid].dependencies:
            if dep in self._mounted:
                continue
            if dep in report.disabled or not self.is_enabled(dep):
                return f"depends on {dep!r}, which is disabled"
            if dep in report.failed:
                return f"depends on {dep!r}, which failed to mount"
            if dep in report.skipped:
                return f"depends on {dep!r}, which was skipped"
            return f"depends on {dep!r}, which is not mounted"
        return None

    async def mount(self, feature_id: str) -> MountReport:
        """Mount one feature, its unmounted dependencies first (the seed's ``mount``)."""
        self.get(feature_id)
        order = self.order()
        wanted = {feature_id}
        for fid in reversed(order):
            if fid in wanted:
                wanted.update(self._features[fid].dependencies)
        report = MountReport(order=[fid for fid in order if fid in wanted])
        await self._mount_in_order(report.order, report)
        return report

    async def _mount_one(self, fid: str, report: MountReport) -> str | None:
        f = self._features[fid]
        ctx = self._contexts[fid] = self._new_context(f)
        pending = self._pending_register.pop(fid, None)
        if pending is not None:
            try:
                await pending
            except Exception as exc:  # noqa: BLE001 - the error boundary
                self._hook_failed(fid, "register", exc)
        if fid in self._register_failed:
            return self._register_failed[fid]
        started = time.perf_counter()
        try:
            for dep, protocol in f.requires.items():
                check_service(fid, dep, self._mounted[dep].service, protocol)
            result = f.on_mount(ctx)  # type: ignore[misc]
            if inspect.isawaitable(result):
                result = await result
            result = await self._check_mount_result(f, ctx, result)
        except Exception as exc:  # noqa: BLE001 - the error boundary
            await self._cleanup(fid)
            return self._hook_failed(fid, "mount", exc)
        elapsed = (time.perf_counter() - started) * 1000.0
        report.durations_ms[fid] = elapsed
        self._mounted[fid] = result
        self._mount_sequence.append(fid)
        ctx.mount_result = result
        router = self._router(fid, result)
        for event_type in f.subscribed_events:
            self.bus.subscribe(event_type, router, owner=fid)
        if self.ready_event is not None and APP_READY in f.subscribed_events:
            router(self.ready_event)
        self.metrics.gauge(feature_metric(fid, "mounted"), time.time())
        self.metrics.timing(feature_metric(fid, "operation", "mount"), elapsed)
        if self.budget is not None:
            self.budget.check(fid, "mount", elapsed)
        self.bus.dispatch(FEATURE_MOUNTED, {"feature": fid}, Priority.MEDIUM, source="kernel")
        log.info("feature mounted: %s (%.2f ms)", fid, elapsed)
        return None

    async def _check_mount_result(self, f: Feature, ctx: FeatureContext, result: Any) -> MountResult:
        if result is None:
            result = MountResult()
        elif isinstance(result, (Actor, StateChart)):
            result = MountResult(actor=result)
        elif not isinstance(result, MountResult):
            raise FeatureContractError(
                f"on_mount of {f.id!r} must return a MountResult or None, got {type(result).__name__}",
                feature_id=f.id, field="on_mount")
        if isinstance(result.actor, StateChart):
            actor = self.actors.get(f.id)
            if actor is None or actor.machine is not result.actor:
                actor = await ctx.spawn(result.actor)
            result = MountResult(actor=actor, service=result.service, handler=result.handler)
        if result.actor is not None and not isinstance(result.actor, Actor):
            raise FeatureContractError(f"on_mount of {f.id!r} returned an actor that is not an Actor or StateChart",
                                       feature_id=f.id, field="on_mount")
        if f.subscribed_events and result.actor is None and result.handler is None:
            raise FeatureContractError(
                f"feature {f.id!r} subscribes to {', '.join(f.subscribed_events)} but on_mount returned "
                "neither an actor nor a handler to deliver them to", feature_id=f.id, field="subscribed_events")
        return result

    def _router(self, fid: str, result: MountResult) -> Any:
        counters = self.metrics.counters
        names: dict[str, str] = {}
        actor, handler = result.actor, result.handler

        def count(event: Event) -> None:
            name = names.get(event.type)
            if name is None:
                name = names[event.type] = feature_metric(fid, "events", event.type)
            counters[name] = counters.get(name, 0) + 1

        if actor is not None:
            def to_actor(event: Event) -> None:
                count(event)
                actor.send(event.type, bus_event=event)
            return to_actor

        def to_handler(event: Event) -> Any:
            count(event)
            return handler(event)  # type: ignore[misc]
        return to_handler

    # ------------------------------------------------------------------ unmounting
    async def unmount(self, feature_id: str) -> bool:
        """Unmount a feature, its mounted dependents first; returns False if it was not mounted."""
        self.get(feature_id)
        if feature_id not in self._mounted:
            return False
        for fid in reversed(self.dependents(feature_id)):
            if fid in self._mounted:
                await self._unmount_one(fid)
        await self._unmount_one(feature_id)
        return True

    async def unmount_all(self) -> list[str]:
        """Unmount everything in the reverse of the order it mounted; returns that order."""
        done = []
        for fid in reversed(list(self._mount_sequence)):
            if fid in self._mounted:
                await self._unmount_one(fid)
                done.append(fid)
        return done

    async def _unmount_one(self, fid: str) -> None:
        f = self._features[fid]
        ctx = self._contexts[fid]
        started = time.perf_counter()
        self.bus.unsubscribe_owner(fid)
        if f.on_unmount is not None:
            try:
                result = f.on_unmount(ctx)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - unmount always completes
                self._hook_failed(fid, "unmount", exc)
        await self._cleanup(fid)
        self._mounted.pop(fid, None)
        if fid in self._mount_sequence:
            self._mount_sequence.remove(fid)
        ctx.mount_result = None
        elapsed = (time.perf_counter() - started) * 1000.0
        self.metrics.gauge(feature_metric(fid, "mounted"), 0)
        self.metrics.timing(feature_metric(fid, "operation", "unmount"), elapsed)
        if self.budget is not None:
            self.budget.check(fid, "unmount", elapsed)
        self.bus.dispatch(FEATURE_UNMOUNTED, {"feature": fid}, Priority.MEDIUM, source="kernel")
        log.info("feature unmounted: %s", fid)

    async def _cleanup(self, fid: str) -> None:
        """Whatever a feature left behind (subscriptions, actors, tasks) goes with it."""
        self.bus.unsubscribe_owner(fid)
        await self._contexts[fid].cancel_tasks()
        for actor in self.actors.all(feature=fid):
            if actor.id in self.actors:
                self.actors.unregister(actor.id)

    # ------------------------------------------------------------------ hot reload
    async def replace(self, feature: Feature | Mapping[str, Any]) -> MountReport:
        """Hot reload: unmount the old contract (and its dependents), swap in the new one, remount.

        The new dependency graph is checked before anything is unmounted, so a bad contract
        leaves the running app untouched.
        """
        new = as_feature(feature)
        old = self.get(new.id)
        trial = {fid: f.dependencies for fid, f in self._features.items()}
        trial[new.id] = new.dependencies
        order = topological_order(trial)
        record = apply_settings(new.id, new.settings, self._overrides.get(new.id))
        self.catalog.withdraw(new.id)
        try:
            self.catalog.declare(new.id, new.emitted_events)
        except Exception:
            self.catalog.declare(new.id, old.emitted_events)
            raise
        was_mounted = new.id in self._mounted
        affected = [new.id] + [fid for fid in self.dependents(new.id) if fid in self._mounted]
        if was_mounted:
            await self.unmount(new.id)
        self._features[new.id] = new
        self._records[new.id] = record
        self._contexts[new.id] = self._new_context(new)
        self._pending_register.pop(new.id, None)
        self._call_on_register(new)
        self.metrics.increment(feature_metric(new.id, "reloads"))
        report = MountReport(order=[fid for fid in order if fid in affected])
        if was_mounted:
            await self._mount_in_order(report.order, report)
        log.info("feature replaced: %s", new.id)
        return report

    # ------------------------------------------------------------------ errors and views
    def _hook_failed(self, fid: str, phase: str, exc: BaseException) -> str:
        if isinstance(exc, ServiceContractError):
            why = str(exc)
        else:
            why = f"on_{phase} raised {type(exc).__name__}: {exc}"
        if phase == "register":
            self._register_failed[fid] = why
        self.metrics.increment(feature_metric(fid, "errors"))
        log.error("feature %s: %s", fid, why)
        self.bus.dispatch(FEATURE_ERROR, {
            "feature": fid, "phase": phase, "event_type": None, "event_id": None,
            "error_type": type(exc).__name__, "error": str(exc),
        }, Priority.HIGH, source="kernel")
        return why

    def status(self, feature_id: str) -> str:
        if feature_id in self._mounted:
            return "mounted"
        if not self.is_enabled(feature_id):
            return "disabled"
        report = self.last_report
        if feature_id in self._register_failed or (report is not None and feature_id in report.failed):
            return "failed"
        if report is not None and feature_id in report.skipped:
            return "skipped"
        return "registered"

    def graph(self) -> DependencyGraph:
        """The dependency graph as plain data (render it, or let the notebook display it)."""
        try:
            ids = self.order()
        except (DependencyCycleError, MissingDependencyError):
            ids = list(self._features)
        nodes = tuple(GraphNode(fid, self._features[fid].name, self._features[fid].version, self.status(fid))
                      for fid in ids)
        edges = tuple((fid, dep) for fid in ids for dep in self._features[fid].dependencies
                      if dep in self._features)
        return DependencyGraph(nodes, edges)

    def __repr__(self) -> str:
        return f"FeatureRegistry({len(self)} features, {len(self._mounted)} mounted)"
