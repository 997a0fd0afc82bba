"""PersistenceMachine on the kernel's real actor system and a strict bus, without the rest of
the app: the service's reports move it, and it says each step on the bus."""

from __future__ import annotations

import asyncio
import os

import pytest

from chatkernel import ActorRegistry, EventBus

from features.persistence import events as ev
from features.persistence.machine import PersistenceMachine

pytestmark = pytest.mark.anyio


@pytest.fixture
async def harness(make_service):
    bus = EventBus(strict=True)
    bus.catalog.declare("persistence", ev.EMITTED)
    actors = ActorRegistry(bus=bus)
    events: list = []
    bus.tap(lambda event, outcome: events.append(event) if outcome == "dispatched" else None)
    service = make_service()
    actor = await actors.spawn(PersistenceMachine(service), "persistence", feature="persistence")
    service.listener = lambda name, info: actor.send(name, **info)

    async def settle() -> None:
        async with asyncio.timeout(10):
            for _ in range(3):
                await actors.settle()
                await bus.drain()
                await asyncio.sleep(0.01)

    yield service, actor, events, settle
    service.listener = None
    actors.unregister("persistence")


async def test_each_step_moves_the_machine_and_is_said(harness, key):
    service, actor, events, settle = harness
    states = []
    await service.open(key, "alice")
    await settle()
    states.append(actor.state)
    await service.close()
    await settle()
    states.append(actor.state)
    assert states == [["open"], ["closed"]]
    assert [(e.type, dict(e.payload)) for e in events] == [
        ("PERSISTENCE_OPENED", {"profile": "alice", "created": True, "migrations_applied": 0}),
        ("PERSISTENCE_LOCKED", {"profile": "alice"}),
    ]


async def test_a_failed_open_goes_to_error_and_a_new_open_leaves_it(harness, key):
    service, actor, events, settle = harness
    await service.open(key, "alice")
    await service.close()
    with pytest.raises(Exception):
        await service.open(os.urandom(32), "alice")
    await settle()
    assert actor.state == ["error"]
    assert actor.machine.last_error["kind"] == "wrong_key"
    await service.open(key, "alice")
    await settle()
    assert actor.state == ["open"] and actor.machine.last_error is None


async def test_lock_from_closed_does_nothing(harness):
    service, actor, events, settle = harness
    actor.send("LOCK")
    await settle()
    assert actor.state == ["closed"] and events == []
