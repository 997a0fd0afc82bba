"""The crypto state machine: locked <-> ready.

``ready`` means the profile database is open and an identity is loaded, so keys and sessions
can be used. The machine hears ``PERSISTENCE_OPENED``, ``IDENTITY_LOADED`` and
``IDENTITY_CREATED`` (ready once both hold), ``PERSISTENCE_LOCKED`` and ``IDENTITY_FORGOTTEN``
(locked). The service also says ``READY`` the first time an operation finds both (an identity
provider that announces nothing still works) and ``COUNTS`` when the panel's numbers change.
Keys and sessions never travel through the machine: it only records where crypto is.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import Machine, spawn_task

from .service import CryptoService

__all__ = ["CryptoMachine"]


class CryptoMachine(Machine):
    locked = State(initial=True)
    ready = State()

    PERSISTENCE_OPENED = locked.to(ready, cond="service_ready") | locked.to(None) | ready.to(None)
    IDENTITY_LOADED = locked.to(ready, cond="service_ready") | locked.to(None) | ready.to(None)
    IDENTITY_CREATED = locked.to(ready, cond="service_ready") | locked.to(None) | ready.to(None)
    IDENTITY_FORGOTTEN = ready.to(locked, on="forget") | locked.to(None, on="forget")
    READY = locked.to(ready) | ready.to(None)
    PERSISTENCE_LOCKED = ready.to(locked, on="forget") | locked.to(None, on="forget")
    COUNTS = locked.to(None) | ready.to(None)

    def __init__(self, service: CryptoService, **kw: Any):
        self.service = service
        super().__init__(**kw)

    def service_ready(self, **_: Any) -> bool:
        return self.service.ready

    def on_enter_ready(self, **_: Any) -> None:
        spawn_task(self.service.refresh_counts(), name="crypto-counts")

    def forget(self, **_: Any) -> None:
        self.service.locked()
