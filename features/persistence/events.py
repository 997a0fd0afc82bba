"""The persistence feature's communication contract: what it says (it hears nothing).

Payloads never carry the key or any stored data: only the profile name, counts and the reason
of a failure (``kind`` is the error's class tag, see ``errors.py``).

Commands the persistence actor accepts (``fire(actor, ...)`` from UI code)
    LOCK    close the open profile (also clears the error state)
Opening needs the key, which never travels through the bus: the auth feature calls the
service's ``open(key, profile)``.
"""

from __future__ import annotations

from chatkernel import EventSpec

__all__ = ["EMITTED", "PERSISTENCE_ERROR", "PERSISTENCE_LOCKED", "PERSISTENCE_OPENED", "SUBSCRIBED"]

PERSISTENCE_OPENED = EventSpec(
    "PERSISTENCE_OPENED", "HIGH", "a profile database is open, its migrations applied",
    {"profile": str, "created": bool, "migrations_applied": int})
PERSISTENCE_LOCKED = EventSpec("PERSISTENCE_LOCKED", "HIGH", "the profile database was closed; nothing can be read",
                               {"profile": str | None})
PERSISTENCE_ERROR = EventSpec(
    "PERSISTENCE_ERROR", "HIGH", "a profile database could not be opened or used; the file was left untouched",
    {"profile": str | None, "kind": str, "reason": str})

EMITTED = (PERSISTENCE_OPENED, PERSISTENCE_LOCKED, PERSISTENCE_ERROR)
SUBSCRIBED: tuple[str, ...] = ()
