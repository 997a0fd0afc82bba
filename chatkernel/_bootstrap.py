"""One call from nothing to a running app: ``app = await bootstrap(features)``.

It builds the bus, the actor registry and the feature registry, registers the features (the
given ones or the installed ones), runs the app machine until ``ready`` and hands back an
:class:`App` through which a notebook inspects and finally shuts everything down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from ._actors import Actor, ActorRegistry
from ._app import STARTUP_TYPES, AppMachine
from ._budget import PerformanceBudget
from ._bus import EventBus
from ._discovery import discover_features
from ._errors import BootError
from ._events import APP_READY, APP_SHUTDOWN, Event, Priority
from ._feature import Feature
from ._metrics import Metrics
from ._registry import FeatureRegistry
from ._report import MountReport

__all__ = ["App", "bootstrap"]

log = logging.getLogger("chatkernel.app")

SETTINGS_FILE = "settings.json"
SNAPSHOTS_FILE = "snapshots.json"


class App:
    """A booted application: the kernel's parts plus the app machine that orchestrates them."""

    def __init__(self, *, bus: EventBus, actors: ActorRegistry, registry: FeatureRegistry, metrics: Metrics,
                 budget: PerformanceBudget, state_dir: Path | None, startup: str | None, offline: bool,
                 explicit_flags: Iterable[str] = ()):
        self.bus = bus
        self.actors = actors
        self.registry = registry
        self.metrics = metrics
        self.budget = budget
        self.state_dir = state_dir
        self.report: MountReport | None = None
        self.discovery_errors: dict[str, str] = {}
        self.saved_snapshots: dict[str, dict[str, Any]] = {}
        self._startup = startup
        self._offline = offline
        self._explicit_flags = frozenset(explicit_flags)
        self._settled = asyncio.Event()
        self.actor: Actor | None = None

    # ------------------------------------------------------------------ state
    @property
    def machine(self) -> AppMachine:
        assert self.actor is not None
        return self.actor.machine  # type: ignore[return-value]

    @property
    def state(self) -> list[str]:
        return self.actor.state if self.actor is not None else []

    @property
    def ready(self) -> bool:
        return "ready" in self.state

    @property
    def degraded(self) -> bool:
        return bool(self.report is not None and self.report.degraded)

    @property
    def startup_type(self) -> str:
        return self.machine.startup_type

    # ------------------------------------------------------------------ machine callbacks
    def _detect_startup(self) -> str:
        if self._startup is not None:
            return self._startup
        if self._offline:
            return "offline"
        if self.state_dir is None:
            return "cold"
        if (self.state_dir / SNAPSHOTS_FILE).exists():
            return "rehydrate"
        if (self.state_dir / SETTINGS_FILE).exists():
            return "warm"
        return "cold"

    def _load_settings(self) -> None:
        if self.state_dir is None:
            return
        for name, target in ((SETTINGS_FILE, None), (SNAPSHOTS_FILE, "snapshots")):
            path = self.state_dir / name
            if not path.exists():
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BootError(f"{path} is not readable JSON: {exc}") from None
            if not isinstance(data, dict):
                raise BootError(f"{path} must hold a JSON object, got {type(data).__name__}")
            if target == "snapshots":
                self.saved_snapshots = {k: v for k, v in data.items() if isinstance(v, dict)}
                continue
            for fid, enabled in dict(data.get("flags") or {}).items():
                if fid not in self._explicit_flags:
                    self.registry.set_enabled(fid, enabled)
            for fid, values in dict(data.get("features") or {}).items():
                if not isinstance(values, dict):
                    raise BootError(f"{path}: settings of feature {fid!r} must be an object")
                self.registry._settings[fid] = {**values, **self.registry._settings.get(fid, {})}

    def _on_ready(self) -> None:
        report = self.report
        self.registry.ready_event = self.bus.dispatch(APP_READY, {
            "startup_type": self.machine.startup_type,
            "degraded": bool(report and report.degraded),
            "mounted": list(report.mounted) if report else [],
        }, Priority.HIGH, source="kernel")
        self._on_settled()

    def _on_settled(self) -> None:
        self._settled.set()

    async def _unmount_everything(self) -> None:
        self.bus.dispatch(APP_SHUTDOWN, None, Priority.HIGH, source="kernel")
        await self.bus.drain()
        if self.state_dir is not None:
            self._save_snapshots()
        await self.registry.unmount_all()
        await self.bus.drain()

    def _save_snapshots(self) -> None:
        snapshots = {a.id: a.snapshot() for a in self.actors.all() if a.id != "app"
                     and getattr(a.machine, "snapshot_fields", ())}
        if not snapshots:
            return
        assert self.state_dir is not None
        tmp = self.state_dir / (SNAPSHOTS_FILE + ".tmp")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(snapshots, indent=1, sort_keys=True, default=str), encoding="utf-8")
            tmp.replace(self.state_dir / SNAPSHOTS_FILE)
        except OSError as exc:
            log.error("could not save actor snapshots: %s", exc)

    # ------------------------------------------------------------------ use
    def dispatch(self, event_type: str, payload: Mapping[str, Any] | None = None,
                 priority: Priority | str = Priority.MEDIUM) -> Event:
        """Dispatch as the user (source ``"user"``), e.g. from a notebook cell."""
        return self.bus.dispatch(event_type, payload, priority, source="user")

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bus is empty and every actor has processed its mailbox."""
        async with asyncio.timeout(timeout):
            while True:
                await self.bus.drain(timeout=None)
                await self.actors.settle(timeout=timeout)
                await asyncio.sleep(0)
                if not self.bus.pending and not self.bus._tasks and not self.actors.busy:
                    return

    async def _wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except asyncio.TimeoutError:
            raise BootError(f"app did not settle within {timeout} s (state {self.state})") from None

    async def shutdown(self, timeout: float = 30.0) -> None:
        """Unmount every feature in reverse order, save snapshots, stop the app machine."""
        if self.actor is None or not self.actor.running:
            return
        if "terminated" in self.state:
            return
        self._settled.clear()
        self.actor.send("SHUTDOWN")
        await self._wait(timeout)
        self.actors.unregister("app")

    # ------------------------------------------------------------------ display
    def summary(self) -> list[str]:
        lines = [f"app: {', '.join(self.state)} (startup: {self.machine.startup_type})"]
        if self.report is not None:
            lines += self.report.lines()
        if self.machine.last_error:
            lines.append(f"error: {self.machine.last_error}")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self.summary())

    def _repr_html_(self) -> str:
        return "<pre class='chatkernel-app'>" + escape(repr(self)) + "</pre>"


async def bootstrap(
    features: Iterable[Feature | Mapping[str, Any]] | None = None,
    *,
    state_dir: str | Path | None = None,
    startup: str | None = None,
    offline: bool = False,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    flags: Mapping[str, bool] | None = None,
    limits: Mapping[Priority | str, int] | None = None,
    budgets_ms: Mapping[str, float] | None = None,
    timeout: float = 30.0,
) -> App:
    """Build the kernel, register ``features`` (default: the installed ones) and boot to ``ready``.

    Raises :class:`BootError` when the app ends in ``error`` (for example a dependency cycle),
    after stopping what it started; a feature that merely fails to mount leaves the app ready
    but degraded (see ``app.report``).
    """
    if startup is not None and startup not in STARTUP_TYPES:
        raise BootError(f"startup must be one of {', '.join(STARTUP_TYPES)}, got {startup!r}")
    metrics = Metrics()
    budget = PerformanceBudget(dict(budgets_ms or {}), metrics=metrics)
    bus = EventBus(limits=limits, metrics=metrics, budget=budget)
    actors = ActorRegistry(bus=bus, metrics=metrics)
    state_path = Path(state_dir) if state_dir is not None else None
    registry = FeatureRegistry(bus=bus, actors=actors, metrics=metrics, budget=budget, settings=settings, flags=flags,
                               state_dir=state_path)
    app = App(bus=bus, actors=actors, registry=registry, metrics=metrics, budget=budget,
              state_dir=state_path, startup=startup, offline=offline,
              explicit_flags=flags or ())
    if features is None:
        discovered = discover_features()
        app.discovery_errors = {d.name: d.error for d in discovered if d.error}
        for name, error in app.discovery_errors.items():
            log.error("installed feature %s could not be loaded: %s", name, error)
        features = [d.feature for d in discovered if d.feature is not None]
    for feature in features:
        registry.register(feature)
    app.actor = await actors.spawn(AppMachine(host=app), "app", type="app")
    await app._wait(timeout)
    if "error" in app.state:
        reason = app.machine.last_error or "unknown error"
        await registry.unmount_all()
        actors.unregister("app")
        raise BootError(reason)
    return app
