"""One call from nothing to a running app: ``app = await bootstrap(features)``.

It builds the bus and the actor registry, hands the features (the given ones, or the app's
feature list and the installed plugins) to an :class:`App`, runs the app machine until
``ready`` and hands back the app, through which a notebook inspects and finally shuts
everything down.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._actors import ActorRegistry
from ._app import App
from ._app_machine import STARTUP_TYPES
from ._budget import PerformanceBudget
from ._bus import EventBus
from ._discovery import discover_features
from ._errors import BootError
from ._events import Priority
from ._feature import Feature, as_feature
from ._metrics import Metrics
from ._specs import EventSpec

__all__ = ["STRICT_ENV", "bootstrap", "strict_default"]

log = logging.getLogger("chatkernel.app")

#: Set to 1 to validate every payload against its spec by default (the test suite does).
STRICT_ENV = "CHATKERNEL_STRICT"


def strict_default() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


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
    strict: bool | None = None,
    events: Iterable[EventSpec] = (),
    timeout: float = 30.0,
) -> App:
    """Build the kernel, register ``features`` (default: the installed ones) and boot to ``ready``.

    ``strict`` (default: the ``CHATKERNEL_STRICT`` environment variable) validates every
    dispatched payload against its spec; ``events`` declares the types notebook cells dispatch
    with ``app.dispatch``. Raises :class:`BootError` when the app ends in ``error`` (a dependency
    cycle, an unreadable kernel config, a feature refused at registration), after stopping what
    it started; a feature that merely fails to mount leaves the app ready but degraded.
    """
    if startup is not None and startup not in STARTUP_TYPES:
        raise BootError(f"startup must be one of {', '.join(STARTUP_TYPES)}, got {startup!r}")
    metrics = Metrics()
    budget = PerformanceBudget(dict(budgets_ms or {}), metrics=metrics)
    bus = EventBus(limits=limits, metrics=metrics, budget=budget,
                   strict=strict_default() if strict is None else strict)
    actors = ActorRegistry(bus=bus, metrics=metrics)
    discovery_errors: dict[str, str] = {}
    if features is None:
        discovered = discover_features()
        discovery_errors = {d.name: d.error for d in discovered if d.error}
        for name, error in discovery_errors.items():
            log.error("installed feature %s could not be loaded: %s", name, error)
        features = [d.feature for d in discovered if d.feature is not None]
    app = App(features=[as_feature(f) for f in features], bus=bus, actors=actors, metrics=metrics, budget=budget,
              state_dir=Path(state_dir) if state_dir is not None else None, startup=startup, offline=offline,
              settings=settings, flags=flags, events=events)
    app.discovery_errors = discovery_errors
    await app.start(timeout)
    if "error" in app.state:
        reason = app.machine.last_error or "unknown error"
        cause = app.machine.last_exception
        await app.abort()
        raise BootError(reason) from cause
    return app
