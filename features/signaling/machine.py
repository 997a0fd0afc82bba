"""The signaling state machine: disconnected -> connecting -> connected, with reconnecting.

It connects only as a loaded identity: ``IDENTITY_LOADED`` / ``IDENTITY_CREATED`` connect (if
auto_connect is on, or if a ``CONNECT`` is waiting in ``waiting_for_identity``), and
``IDENTITY_FORGOTTEN`` (log-out) disconnects and fails the queued sends.

Each state's work is invoked (and cancelled on exit): ``connecting`` opens a session,
``connected`` runs the long-poll loop, ``reconnecting`` waits out an exponential backoff with
jitter. Switching relays passes through ``switching`` so the old work is cancelled first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from statemachine import State

from chatkernel import Event, Machine

from . import events as ev
from .client import check_url
from .errors import SignalingError
from .service import SignalingService

__all__ = ["SignalingMachine"]


def _payload(bus_event: Event | None) -> Any:
    """The payload of the bus event being handled (empty for commands sent straight to the actor)."""
    return bus_event.payload if bus_event is not None else {}


class SignalingMachine(Machine):
    disconnected = State(initial=True)
    connecting = State()
    connected = State()
    reconnecting = State()
    switching = State()
    waiting_for_identity = State()  # asked to connect (CONNECT) before an identity was loaded

    CONNECT = (disconnected.to(waiting_for_identity, unless="has_identity", on="want")
               | disconnected.to(connecting, cond="has_url", on="want")
               | disconnected.to(None, on="no_url")
               | reconnecting.to(connecting, on="want"))
    DISCONNECT = (connecting.to(disconnected, on="manual") | connected.to(disconnected, on="manual")
                  | reconnecting.to(disconnected, on="manual") | waiting_for_identity.to(disconnected, on="manual")
                  | disconnected.to(None, on="manual"))
    APP_READY = (disconnected.to(connecting, cond=["has_url", "has_identity", "auto", "online"], on="note_startup")
                 | disconnected.to(None, on="note_startup"))
    IDENTITY_LOADED = (waiting_for_identity.to(connecting, cond=["has_url", "has_identity"])
                       | waiting_for_identity.to(disconnected, cond="has_identity", on="no_url")
                       | disconnected.to(connecting, cond=["has_url", "has_identity", "auto"])
                       | connecting.to(switching, cond="identity_changed")
                       | connected.to(switching, cond="identity_changed")
                       | reconnecting.to(switching, cond="identity_changed"))
    IDENTITY_CREATED = (waiting_for_identity.to(connecting, cond=["has_url", "has_identity"])
                        | waiting_for_identity.to(disconnected, cond="has_identity", on="no_url")
                        | disconnected.to(connecting, cond=["has_url", "has_identity", "auto"])
                        | connecting.to(switching, cond="identity_changed")
                        | connected.to(switching, cond="identity_changed")
                        | reconnecting.to(switching, cond="identity_changed"))
    IDENTITY_FORGOTTEN = (connecting.to(disconnected, on="logged_out") | connected.to(disconnected, on="logged_out")
                          | reconnecting.to(disconnected, on="logged_out")
                          | waiting_for_identity.to(disconnected, on="logged_out")
                          | disconnected.to(None, on="logged_out"))
    SIGNALING_URL_CHANGED = (
        disconnected.to(None, unless="url_ok", on="reject_url")
        | connecting.to(None, unless="url_ok", on="reject_url")
        | connected.to(None, unless="url_ok", on="reject_url")
        | reconnecting.to(None, unless="url_ok", on="reject_url")
        | waiting_for_identity.to(None, unless="url_ok", on="reject_url")
        | disconnected.to(connecting, cond=["auto", "has_identity"], on="adopt_url")
        | disconnected.to(None, on="adopt_url")
        | waiting_for_identity.to(None, on="adopt_url")
        | connecting.to(switching, on="adopt_url")
        | connected.to(switching, on="adopt_url")
        | reconnecting.to(switching, on="adopt_url")
    )
    TOKEN_REJECTED = connected.to(reconnecting, on="lost")
    RELAY_SEND_REQUESTED = (disconnected.to(None, on="queue_send") | connecting.to(None, on="queue_send")
                              | connected.to(None, on="queue_send") | reconnecting.to(None, on="queue_send")
                              | switching.to(None, on="queue_send")
                              | waiting_for_identity.to(None, on="queue_send"))

    switching.to(connecting)  # eventless: leave the old relay's work behind, then connect anew

    done_invoke_connecting = (connecting.to(connected, cond="succeeded")
                              | connecting.to(waiting_for_identity, unless="has_identity", on="lost")
                              | connecting.to(reconnecting, on="lost"))
    done_invoke_connected = connected.to(reconnecting, on="lost")
    done_invoke_reconnecting = reconnecting.to(connecting)
    error_execution = (connecting.to(reconnecting, on="lost") | connected.to(reconnecting, on="lost")
                       | reconnecting.to(connecting))

    snapshot_fields = ("auto_connect", "manual_disconnect", "offline", "last_reason")

    def __init__(self, service: SignalingService, *, auto_connect: bool = True, **kw: Any):
        self.service = service
        self.auto_connect = auto_connect
        self.manual_disconnect = False
        self.offline = False
        self.last_reason: str | None = None
        self.retry_in_s: float | None = None
        super().__init__(**kw)

    # ------------------------------------------------------------------ guards
    def has_url(self, **_: Any) -> bool:
        return self.service.url is not None

    def has_identity(self, **_: Any) -> bool:
        return self.service.has_identity

    def identity_changed(self, **_: Any) -> bool:
        """Another identity was loaded while a session was open (or opening) for the last one."""
        current = self.service.identity.user_id
        return current is not None and self.service.session_user not in (None, current)

    def auto(self, **_: Any) -> bool:
        return self.auto_connect and not self.manual_disconnect and not self.offline

    def online(self, bus_event: Event | None = None, **_: Any) -> bool:
        return _payload(bus_event).get("startup_type") != "offline"

    def url_ok(self, bus_event: Event | None = None, **_: Any) -> bool:
        p = _payload(bus_event)
        try:
            check_url(p.get("url"), allow_insecure=bool(p.get("allow_insecure_remote", False)))
        except SignalingError:
            return False
        return True

    def succeeded(self, data: Any = None, **_: Any) -> bool:
        return isinstance(data, dict) and "user_id" in data

    # ------------------------------------------------------------------ actions
    def note_startup(self, bus_event: Event | None = None, **_: Any) -> None:
        """An app started offline connects only when asked to (CONNECT), never by itself."""
        self.offline = _payload(bus_event).get("startup_type") == "offline"

    def want(self, **_: Any) -> None:
        self.manual_disconnect = False

    def manual(self, **_: Any) -> None:
        self.manual_disconnect = True
        self.last_reason = "disconnected on request"

    def logged_out(self, **_: Any) -> None:
        self.last_reason = "logged out"
        self.service.forget_session("logged out: the identity was forgotten")

    def on_enter_waiting_for_identity(self) -> None:
        self.last_reason = "no identity is loaded: sign up or log in first"

    def no_url(self, **_: Any) -> None:
        self.emit(ev.SIGNALING_URL_REJECTED, {"url": None, "reason": "no relay URL is set"})

    def reject_url(self, bus_event: Event | None = None, **_: Any) -> None:
        p = _payload(bus_event)
        url = p.get("url")
        try:
            check_url(url, allow_insecure=bool(p.get("allow_insecure_remote", False)))
        except SignalingError as exc:
            reason = str(exc)
        else:  # pragma: no cover - guarded by url_ok
            reason = "rejected"
        self.emit(ev.SIGNALING_URL_REJECTED, {"url": url if isinstance(url, str) else None, "reason": reason})

    def adopt_url(self, bus_event: Event | None = None, **_: Any) -> None:
        p = _payload(bus_event)
        self.service.set_url(p["url"], allow_insecure_remote=bool(p.get("allow_insecure_remote", False)))

    async def queue_send(self, bus_event: Event | None = None, **_: Any) -> None:
        p = _payload(bus_event)
        to, message_id = p.get("to"), p.get("id")
        try:
            await self.service.submit(to, p.get("payload"), message_id)
        except Exception as exc:  # a refusal, or the database failing: said, never raised into the machine
            self.emit(ev.RELAY_SEND_FAILED, {"id": message_id if isinstance(message_id, str) else None,
                                               "to": to if isinstance(to, str) else None, "reason": str(exc)})

    def lost(self, data: Any = None, error: BaseException | None = None, **_: Any) -> None:
        if error is not None:
            reason = f"{type(error).__name__}: {error}"
        elif isinstance(data, str):
            reason = data
        else:
            reason = "the relay closed the connection"
        self.last_reason = reason

    # ------------------------------------------------------------------ state work
    async def on_invoke_connecting(self, **_: Any) -> Any:
        try:
            return await self.service.connect()
        except SignalingError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def on_invoke_connected(self, **_: Any) -> str:
        return await self.service.poll_forever()

    async def on_invoke_reconnecting(self, **_: Any) -> None:
        await asyncio.sleep(self.retry_in_s or 0)

    def on_enter_connected(self) -> None:
        self.last_reason = None
        self.emit(ev.SIGNALING_CONNECTED, {"url": self.service.url, "user_id": self.service.user_id})

    def on_enter_reconnecting(self) -> None:
        self.retry_in_s = self.service.backoff.next_delay()
        self.emit(ev.CONNECTION_LOST, {
            "url": self.service.url, "reason": self.last_reason, "retry_in_s": round(self.retry_in_s, 3),
            "attempt": self.service.backoff.attempt,
        })

    async def on_enter_disconnected(self, source: Any = None, **_: Any) -> None:
        if getattr(source, "id", None) not in ("connecting", "connected", "reconnecting", "switching"):
            return  # the initial activation is not a disconnection
        await self.service.drop_connection(self.last_reason or "disconnected", notify_relay=True)
        self.emit(ev.SIGNALING_DISCONNECTED, {"url": self.service.url, "reason": self.last_reason})
