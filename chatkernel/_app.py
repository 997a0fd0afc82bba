"""A booted application: the kernel's parts plus the app machine that orchestrates them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from ._actors import Actor, ActorRegistry
from ._app_machine import AppMachine
from ._budget import PerformanceBudget
from ._bus import EventBus
from ._config import CONFIG_FILE, SNAPSHOTS_FILE, KernelConfig, load_kernel_config, load_snapshots, save_snapshots
from ._errors import BootError
from ._events import APP_READY, APP_SHUTDOWN, Event, Priority
from ._feature import FEATURE_ID_PATTERN, Feature
from ._metrics import Metrics
from ._registry import FeatureRegistry
from ._report import MountReport
from ._specs import USER, EventSpec

__all__ = ["USER", "App"]

log = logging.getLogger("chatkernel.app")



class App:
    """The running kernel: ``bus``, ``actors``, ``registry`` and the app machine's ``actor``."""

    def __init__(self, *, features: Iterable[Feature], bus: EventBus, actors: ActorRegistry, metrics: Metrics,
                 budget: PerformanceBudget, state_dir: Path | None, startup: str | None, offline: bool,
                 settings: Mapping[str, Mapping[str, Any]] | None = None, flags: Mapping[str, bool] | None = None,
                 events: Iterable[EventSpec] = ()):
        self.bus = bus
        self.actors = actors
        self.metrics = metrics
        self.budget = budget
        self.state_dir = state_dir
        self.report: MountReport | None = None
        self.discovery_errors: dict[str, str] = {}
        #: The kernel config read at boot (None: there was none, a cold start).
        self.config: KernelConfig | None = None
        self._features = list(features)
        self._settings = {k: dict(v) for k, v in (settings or {}).items()}
        self._flags = dict(flags or {})
        self._startup = startup
        self._offline = offline
        self._settled = asyncio.Event()
        self._registry: FeatureRegistry | None = None
        self.actor: Actor | None = None
        bus.catalog.declare(USER, events)

    # ------------------------------------------------------------------ state
    @property
    def registry(self) -> FeatureRegistry:
        if self._registry is None:
            raise BootError("the app has not loaded its state yet; await bootstrap() first")
        return self._registry

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

    @property
    def saved_snapshots(self) -> dict[str, dict[str, Any]]:
        """The snapshots found at boot (rehydrate); each feature gets its own as ``ctx.saved_snapshots``."""
        return self.registry.saved_snapshots

    # ------------------------------------------------------------------ use
    def declare(self, *specs: EventSpec) -> None:
        """Declare event types that notebook cells dispatch (declared by ``"user"``)."""
        self.bus.catalog.declare(USER, specs)

    def dispatch(self, event_type: Any, payload: Mapping[str, Any] | None = None,
                 priority: Priority | str | None = None) -> Event:
        """Dispatch as the user (source ``"user"``), e.g. from a notebook cell."""
        return self.bus.dispatch(getattr(event_type, "type", event_type), payload, priority, source=USER)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bus is empty and every actor has processed its mailbox."""
        async with asyncio.timeout(timeout):
            while True:
                await self.bus.drain(timeout=None)
                await self.actors.settle(timeout=timeout)
                await asyncio.sleep(0)
                if not self.bus.busy and not self.actors.busy:
                    return

    async def wait_settled(self, timeout: float) -> None:
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
        await self.wait_settled(timeout)
        self.actors.unregister("app")

    async def abort(self) -> None:
        """After a boot that ended in ``error``: unmount what did mount and stop the app machine."""
        if self._registry is not None:
            await self._registry.unmount_all()
        if self.actor is not None and self.actor.id in self.actors:
            self.actors.unregister(self.actor.id)

    async def start(self, timeout: float) -> None:
        """Spawn the app machine and wait until it is ready or in error."""
        self.actor = await self.actors.spawn(AppMachine(host=_Host(self)), "app", type="app")
        await self.wait_settled(timeout)

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


class _Host:
    """The app machine's view of the App (the :class:`AppHost` Protocol), phase by phase."""

    def __init__(self, app: App):
        self.app = app

    def detect_startup(self) -> str:
        app = self.app
        if app._startup is not None:
            return app._startup
        if app._offline:
            return "offline"
        if app.state_dir is None:
            return "cold"
        if (app.state_dir / SNAPSHOTS_FILE).exists():
            return "rehydrate"
        if (app.state_dir / CONFIG_FILE).exists():
            return "warm"
        return "cold"

    async def load_state(self) -> None:
        """Read the kernel config and saved snapshots (off the loop), then build the registry."""
        app = self.app
        config, snapshots = None, {}
        if app.state_dir is not None:
            config = await asyncio.to_thread(load_kernel_config, app.state_dir)
            snapshots = await asyncio.to_thread(load_snapshots, app.state_dir)
        app.config = config
        for fid in [*(config.flags if config else {}), *(config.settings if config else {})]:
            if not isinstance(fid, str) or not FEATURE_ID_PATTERN.match(fid):
                raise BootError(f"{app.state_dir / CONFIG_FILE}: {fid!r} is not a feature id "
                                "(lower case letters and digits, words joined by '-' or '_')")
        settings = {fid: dict(values) for fid, values in (config.settings if config else {}).items()}
        for fid, values in app._settings.items():
            settings[fid] = {**settings.get(fid, {}), **values}
        flags = {**(config.flags if config else {}), **app._flags}
        registry = FeatureRegistry(bus=app.bus, actors=app.actors, metrics=app.metrics, budget=app.budget,
                                   settings=settings, flags=flags, state_dir=app.state_dir,
                                   saved_snapshots=snapshots)
        app._registry = registry
        for feature in app._features:
            registry.register(feature)

    async def mount(self) -> MountReport:
        return await self.app.registry.mount_all()

    def mounted(self, report: Any) -> None:
        self.app.report = report

    def ready(self) -> None:
        app = self.app
        report = app.report
        app.registry.ready_event = app.bus.dispatch(APP_READY, {
            "startup_type": app.machine.startup_type,
            "degraded": bool(report and report.degraded),
            "mounted": list(report.mounted) if report else [],
        }, Priority.HIGH, source="kernel")
        app._settled.set()

    def settled(self) -> None:
        self.app._settled.set()

    async def unmount_everything(self) -> None:
        app = self.app
        app.bus.dispatch(APP_SHUTDOWN, None, Priority.HIGH, source="kernel")
        await app.bus.drain()
        if app.state_dir is not None:
            snapshots = {a.id: a.snapshot() for a in app.actors.all() if a.id != "app"
                         and getattr(a.machine, "snapshot_fields", ())}
            try:
                await asyncio.to_thread(save_snapshots, app.state_dir, snapshots)
            except OSError as exc:
                log.error("could not save actor snapshots: %s", exc)
        await app.registry.unmount_all()
        await app.bus.drain()
