"""The root orchestrator: the seed's app machine, knowing no feature by name.

``booting`` detects the startup type, loads settings and mounts the registered features;
``ready`` is reached even when some features failed (the app is then *degraded* and says why);
only a kernel-level failure (a dependency cycle, unreadable settings) leads to ``error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from statemachine import State

from ._errors import BootError
from ._machine import Machine

if TYPE_CHECKING:
    from ._bootstrap import App

__all__ = ["STARTUP_TYPES", "AppMachine"]

STARTUP_TYPES = ("cold", "warm", "rehydrate", "offline")


class AppMachine(Machine):
    """booting(detecting -> loading_settings -> mounting) -> ready -> shutting_down -> terminated; error."""

    class booting(State.Compound):
        detecting = State(initial=True)
        loading_settings = State()
        mounting = State()

    ready = State()
    shutting_down = State()
    terminated = State(final=True)
    error = State()

    done_invoke_detecting = booting.detecting.to(booting.loading_settings, on="set_startup")
    done_invoke_loading_settings = booting.loading_settings.to(booting.mounting)
    done_invoke_mounting = booting.mounting.to(ready, on="set_report")
    error_execution = booting.to(error, on="set_error") | shutting_down.to(error, on="set_error")
    LOGOUT = ready.to(shutting_down)
    SHUTDOWN = ready.to(shutting_down) | error.to(shutting_down)
    ERROR_CRITICAL = ready.to(error, on="set_error")
    done_invoke_shutting_down = shutting_down.to(terminated)

    snapshot_fields = ("startup_type", "last_error")
    busy_states = frozenset({"booting", "shutting_down"})

    def __init__(self, host: App, **kwargs: Any):
        self.host = host
        self.startup_type = "cold"
        self.last_error: str | None = None
        super().__init__(**kwargs)

    async def on_invoke_detecting(self, **_: Any) -> str:
        return self.host._detect_startup()

    async def on_invoke_loading_settings(self, **_: Any) -> None:
        self.host._load_settings()

    async def on_invoke_mounting(self, **_: Any) -> Any:
        return await self.host.registry.mount_all()

    async def on_invoke_shutting_down(self, **_: Any) -> None:
        await self.host._unmount_everything()

    def set_startup(self, data: str | None = None, **_: Any) -> None:
        self.startup_type = data or "cold"

    def set_report(self, data: Any = None, **_: Any) -> None:
        self.host.report = data

    def set_error(self, error: BaseException | None = None, reason: str | None = None, **_: Any) -> None:
        if isinstance(error, BootError):
            self.last_error = error.reason
        elif error is not None:
            self.last_error = f"{type(error).__name__}: {error}"
        else:
            self.last_error = reason or "ERROR_CRITICAL"

    def on_enter_ready(self) -> None:
        self.host._on_ready()

    def on_enter_error(self) -> None:
        self.host._on_settled()

    def on_enter_terminated(self) -> None:
        self.host._on_settled()
