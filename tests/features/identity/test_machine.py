"""IdentityMachine on the kernel's real actor system and a strict bus, driven by reports the way
the service sends them (no database): each step moves it and is said on the bus."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatkernel import ActorRegistry, EventBus

from features.identity import events as ev
from features.identity.errors import UnknownContactError
from features.identity.machine import IdentityMachine

pytestmark = pytest.mark.anyio
UID = "a" * 32
FP = "0" * 64


class FakeService:
    """What the machine calls on the service: forget, mark_verified, dismiss_key_change, allow_insecure_remote."""

    def __init__(self) -> None:
        self.listener: Any = None
        self.allow_insecure_remote = False
        self.calls: list[tuple[str, Any]] = []

    def forget(self) -> None:
        self.calls.append(("forget", None))
        self.listener("FORGOTTEN", {"user_id": UID})

    async def mark_verified(self, user_id: str, *, fingerprint: str | None = None) -> None:
        self.calls.append(("mark_verified", (user_id, fingerprint)))
        if user_id != UID:
            raise UnknownContactError(user_id)

    async def dismiss_key_change(self, user_id: str, *, fingerprint: str | None = None) -> None:
        self.calls.append(("dismiss_key_change", (user_id, fingerprint)))
        if user_id != UID:
            raise UnknownContactError(user_id)
        self.listener("DISMISSED", {"user_id": UID, "fingerprint": FP, "dismissed_fingerprint": "1" * 64})


@pytest.fixture
async def harness():
    bus = EventBus(strict=True)
    bus.catalog.declare("identity", ev.EMITTED)
    actors = ActorRegistry(bus=bus)
    events: list = []
    bus.tap(lambda event, outcome: events.append(event) if outcome == "dispatched" else None)
    service = FakeService()
    actor = await actors.spawn(IdentityMachine(service), "identity", feature="identity")
    service.listener = lambda name, info: actor.send(name, **info)

    async def settle() -> None:
        async with asyncio.timeout(10):
            for _ in range(3):
                await actors.settle()
                await bus.drain()
                await asyncio.sleep(0.01)

    yield service, actor, events, settle
    actors.unregister("identity")


async def test_the_lifecycle_moves_the_machine_and_is_said(harness):
    service, actor, events, settle = harness
    states = []
    for name, info in [("LOADING", {"operation": "load"}), ("MISSING", {}), ("LOADING", {"operation": "create"}),
                       ("LOADED", {"user_id": UID, "display_name": "Alice", "created": True})]:
        actor.send(name, **info)
        await settle()
        states.append(actor.state)
    assert states == [["loading"], ["none"], ["loading"], ["ready"]]
    assert actor.machine.user_id == UID and actor.machine.display_name == "Alice"
    actor.send("FORGET")
    await settle()
    assert actor.state == ["absent"] and service.calls == [("forget", None)] and actor.machine.user_id is None
    assert [(e.type, dict(e.payload)) for e in events] == [
        ("IDENTITY_CREATED", {"user_id": UID, "display_name": "Alice"}), ("IDENTITY_FORGOTTEN", {"user_id": UID})]


async def test_a_failure_is_recorded_and_said(harness):
    service, actor, events, settle = harness
    actor.send("LOADING", operation="load")
    actor.send("FAILED", operation="load", kind="IdentityFormatError", reason="unreadable identity: x")
    await settle()
    assert actor.state == ["error"]
    assert actor.machine.last_error == {"operation": "load", "kind": "IdentityFormatError",
                                        "reason": "unreadable identity: x"}
    assert [e.type for e in events] == ["IDENTITY_ERROR"]
    actor.send("LOADING", operation="load")
    await settle()
    assert actor.machine.last_error is None


async def test_contact_reports_are_said_only_when_ready(harness):
    service, actor, events, settle = harness
    actor.send("PINNED", user_id=UID)  # absent: ignored
    actor.send("LOADING", operation="load")
    actor.send("LOADED", user_id=UID, display_name="Alice", created=False)
    actor.send("PINNED", user_id=UID)
    actor.send("CHANGED", user_id=UID, old_fingerprint=FP, new_fingerprint="1" * 64)
    actor.send("DISMISSED", user_id=UID, fingerprint=FP, dismissed_fingerprint="1" * 64)
    actor.send("ACCEPTED", user_id=UID, fingerprint="1" * 64)
    actor.send("VERIFIED", user_id=UID, fingerprint="1" * 64)
    await settle()
    assert actor.state == ["ready"]
    assert [e.type for e in events] == ["IDENTITY_LOADED", "CONTACT_PINNED", "KEY_CHANGED", "KEY_CHANGE_DISMISSED",
                                        "KEY_ACCEPTED", "CONTACT_VERIFIED"]
    dismissed = next(e for e in events if e.type == "KEY_CHANGE_DISMISSED")
    assert dict(dismissed.payload) == {"user_id": UID, "fingerprint": FP, "dismissed_fingerprint": "1" * 64}
    assert dismissed.priority.name == "HIGH"
    assert next(e for e in events if e.type == "KEY_CHANGED").priority.name == "HIGH"


async def test_verify_goes_to_the_service_and_a_refusal_is_recorded(harness):
    service, actor, events, settle = harness
    actor.send("LOADING", operation="load")
    actor.send("LOADED", user_id=UID, display_name="Alice", created=False)
    actor.send("VERIFY", user_id=UID, fingerprint=FP)
    actor.send("VERIFY", user_id="b" * 32, fingerprint=FP)
    await settle()
    assert ("mark_verified", (UID, FP)) in service.calls and ("mark_verified", ("b" * 32, FP)) in service.calls
    assert actor.machine.last_error["kind"] == "UnknownContactError"


async def test_dismiss_goes_to_the_service_and_a_refusal_is_recorded(harness):
    service, actor, events, settle = harness
    actor.send("DISMISS", user_id=UID)  # absent: ignored
    actor.send("LOADING", operation="load")
    actor.send("LOADED", user_id=UID, display_name="Alice", created=False)
    actor.send("DISMISS", user_id=UID)
    await settle()
    assert service.calls == [("dismiss_key_change", (UID, None))]
    assert [e.type for e in events] == ["IDENTITY_LOADED", "KEY_CHANGE_DISMISSED"]
    actor.send("DISMISS", user_id="b" * 32, fingerprint=FP)
    await settle()
    assert service.calls[-1] == ("dismiss_key_change", ("b" * 32, FP))
    assert actor.machine.last_error["operation"] == "dismiss"
    assert actor.machine.last_error["kind"] == "UnknownContactError"


async def test_the_url_policy_is_followed(harness):
    service, actor, events, settle = harness

    class Heard:
        payload = {"url": "https://relay.example", "custom": False, "allow_insecure_remote": True}

    actor.send("SIGNALING_URL_CHANGED", bus_event=Heard())
    await settle()
    assert service.allow_insecure_remote is True and actor.state == ["absent"]
