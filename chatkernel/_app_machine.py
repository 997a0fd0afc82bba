"""The root orchestrator: the seed's app machine, knowing no feature by name.

``booting`` detects the startup type, loads the kernel config and saved snapshots (building
the registry from them) and mounts the registered features; ``ready`` is reached even when some
features failed (the app is then *degraded* and says why); only a kernel-level failure (a
dependency cycle, an unreadable config, a feature refused at registration) leads to ``error``.
The machine drives an :class:`AppHost`; it does not know the ``App`` class.
"""

from __future__ import annotations

from typing import Any, Protocol

from statemachine import State

from ._errors import BootError
from ._machine import Machine

__all__ = ["STARTUP_TYPES", "AppHost", "AppMachine"]

#: cold: nothing saved; warm: a kernel config exists; rehydrate: actor snapshots were saved at
#: the last shutdown (and a config may exist too); offline: asked for, features stay off the network.
STARTUP_TYPES = ("cold", "warm", "rehydrate", "offline")


class AppHost(Protocol):
    """What the app machine drives, phase by phase."""

    def detect_startup(self) -> str: ...

    async def load_state(self) -> None: ...

    async def mount(self) -> Any: ...

    def mounted(self, report: Any) -> None: ...

    def ready(self) -> None: ...

    def settled(self) -> None: ...

    async def unmount_everything(self) -> None: ...


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

    def __init__(self, host: AppHost, **kwargs: Any):
        self.host = host
        self.startup_type = "cold"
        self.last_error: str | None = None
        #: The exception behind ``last_error``, so ``bootstrap`` can chain it.
        self.last_exception: BaseException | None = None
        super().__init__(**kwargs)

    async def on_invoke_detecting(self, **_: Any) -> str:
        return self.host.detect_startup()

    async def on_invoke_loading_settings(self, **_: Any) -> None:
        await self.host.load_state()

    async def on_invoke_mounting(self, **_: Any) -> Any:
        return await self.host.mount()

    async def on_invoke_shutting_down(self, **_: Any) -> None:
        await self.host.unmount_everything()

    def set_startup(self, data: str | None = None, **_: Any) -> None:
        self.startup_type = data or "cold"

    def set_report(self, data: Any = None, **_: Any) -> None:
        self.host.mounted(data)

    def set_error(self, error: BaseException | None = None, reason: str | None = None, **_: Any) -> None:
        self.last_exception = error
        if isinstance(error, BootError):
            self.last_error = error.reason
        elif error is not None:
            self.last_error = f"{type(error).__name__}: {error}"
        else:
            self.last_error = reason or "ERROR_CRITICAL"

    def on_enter_ready(self) -> None:
        self.host.ready()

    def on_enter_error(self) -> None:
        self.host.settled()

    def on_enter_terminated(self) -> None:
        self.host.settled()
