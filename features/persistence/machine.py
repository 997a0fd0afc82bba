"""The persistence state machine: closed -> opening -> open -> locking -> closed, and error.

The service does the work and reports each step (OPENING, OPENED, LOCKING, LOCKED, FAILED)
through its listener; the machine records where the database is and says so on the bus. It is
driven that way round because opening needs the key, and the key must never travel as an event
or sit in an actor's mailbox, where inspection and snapshots would see it. ``LOCK`` is the one
command (from the UI): it asks the service to close.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import Machine, spawn_task

from . import events as ev
from .service import PersistenceService

__all__ = ["PersistenceMachine"]


class PersistenceMachine(Machine):
    closed = State(initial=True)
    opening = State()
    open = State()
    locking = State()
    error = State()

    OPENING = closed.to(opening) | error.to(opening)
    OPENED = opening.to(open, on="opened")
    FAILED = opening.to(error, on="failed") | open.to(error, on="failed") | locking.to(error, on="failed")
    LOCKING = open.to(locking)
    LOCKED = (locking.to(closed, on="locked") | open.to(closed, on="locked") | error.to(closed, on="locked")
              | opening.to(closed, on="locked"))
    LOCK = open.to(None, on="request_lock") | error.to(None, on="request_lock") | closed.to(None)

    snapshot_fields = ("profile", "last_error")

    def __init__(self, service: PersistenceService, **kw: Any):
        self.service = service
        self.profile: str | None = None
        self.last_error: dict[str, str] | None = None
        super().__init__(**kw)

    def on_enter_opening(self, profile: str | None = None, **_: Any) -> None:
        self.profile = profile
        self.last_error = None

    def opened(self, profile: str = "", created: bool = False, migrations_applied: int = 0, **_: Any) -> None:
        self.emit(ev.PERSISTENCE_OPENED, {"profile": profile, "created": bool(created),
                                          "migrations_applied": int(migrations_applied)})

    def failed(self, profile: str | None = None, kind: str = "error", reason: str = "", **_: Any) -> None:
        self.last_error = {"kind": kind, "reason": reason}
        self.emit(ev.PERSISTENCE_ERROR, {"profile": profile, "kind": kind, "reason": reason})

    def locked(self, profile: str | None = None, **_: Any) -> None:
        self.emit(ev.PERSISTENCE_LOCKED, {"profile": profile})

    def request_lock(self, **_: Any) -> None:
        """Closing waits for the transaction in flight: done in its own task, not in this step."""
        spawn_task(self.service.close(), name="persistence-lock")
