"""The messaging state machine: locked <-> ready, and the work each heard event starts.

``ready`` means the profile database is open and an identity is loaded. Received envelopes are
handled one at a time, in the order the relay delivered them (the ratchet needs that order),
as the machine's own actions, and each is settled with signaling; one heard while locked is
settled as not stored, so it stays on the relay and comes again. Prekey uploads wait on the
network, so they run as tasks and never hold up the messages behind them.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import Event, Machine, bus_payload, spawn_task

from .service import MessagingService

__all__ = ["MessagingMachine"]


class MessagingMachine(Machine):
    locked = State(initial=True)
    ready = State()

    PERSISTENCE_OPENED = locked.to(ready, cond="service_ready") | locked.to(None) | ready.to(None)
    IDENTITY_LOADED = locked.to(ready, cond="service_ready") | locked.to(None) | ready.to(None)
    IDENTITY_CREATED = locked.to(ready, cond="service_ready") | locked.to(None) | ready.to(None)
    PERSISTENCE_LOCKED = ready.to(locked, on="forget") | locked.to(None, on="forget")
    IDENTITY_FORGOTTEN = ready.to(locked, on="forget") | locked.to(None, on="forget")
    RELAY_MESSAGE_RECEIVED = (locked.to(ready, cond="service_ready", on="receive") | locked.to(None, on="receive")
                        | ready.to(None, on="receive"))
    RELAY_MESSAGE_SENT = ready.to(None, on="sent") | locked.to(None)
    RELAY_SEND_FAILED = ready.to(None, on="failed") | locked.to(None)
    SIGNALING_CONNECTED = (locked.to(ready, cond="service_ready", on="publish") | locked.to(None)
                           | ready.to(None, on="publish"))
    CRYPTO_SESSION_STARTED = ready.to(None, cond="used_our_prekey", on="refill") | ready.to(None) | locked.to(None)
    STATS = ready.to(None) | locked.to(None)

    def __init__(self, service: MessagingService, **kw: Any):
        self.service = service
        self.last_outcome: str | None = None
        super().__init__(**kw)

    def forget(self, **_: Any) -> None:
        self.service.forget()

    def service_ready(self, **_: Any) -> bool:
        return self.service.ready

    def used_our_prekey(self, bus_event: Event | None = None, **_: Any) -> bool:
        p = bus_payload(bus_event)
        return p.get("role") == "responder" and bool(p.get("one_time_prekey"))

    async def receive(self, bus_event: Event | None = None, **_: Any) -> None:
        self.last_outcome = await self.service.receive(bus_payload(bus_event))

    async def sent(self, bus_event: Event | None = None, **_: Any) -> None:
        await self.service.sent(bus_payload(bus_event))

    async def failed(self, bus_event: Event | None = None, **_: Any) -> None:
        await self.service.failed(bus_payload(bus_event))

    def publish(self, **_: Any) -> None:
        spawn_task(self.service.publish_prekeys("connected"), name="messaging:prekeys")
        spawn_task(self.service.flush_group_controls(), name="messaging:groups")

    def refill(self, **_: Any) -> None:
        spawn_task(self.service.publish_prekeys("session_started"), name="messaging:prekeys")
