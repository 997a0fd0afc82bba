"""``forwarder(actor)``: the listener a feature's service reports to. It forwards while the actor
runs, drops silently before it starts and after it stopped, hands reports made on another thread
over to the actor's loop, and never raises (a refused send becomes FEATURE_ERROR)."""

import asyncio
import logging

import pytest
from statemachine import State

from chatkernel import FEATURE_ERROR, ActorRegistry, EventBus, Machine, forwarder

pytestmark = pytest.mark.anyio


class Recorder(Machine):
    idle = State(initial=True)
    busy = State()
    STARTED = idle.to(busy, on="note") | busy.to(None, on="note")
    DONE = busy.to(idle, on="note")

    def __init__(self, **kw):
        self.heard: list[tuple[str, dict]] = []
        super().__init__(**kw)

    def note(self, event=None, profile=None, count=None, **_):
        self.heard.append((str(event), {"profile": profile, "count": count}))


async def test_forwards_each_report_as_a_send_while_running():
    system = ActorRegistry()
    actor = await system.spawn(Recorder(), "recorder")
    listener = forwarder(actor)
    listener("STARTED", {"profile": "alice", "count": 1})
    listener("DONE", {"profile": "alice", "count": 2})
    await actor.settle()
    assert actor.state == ["idle"]
    assert actor.machine.heard == [("STARTED", {"profile": "alice", "count": 1}),
                                   ("DONE", {"profile": "alice", "count": 2})]


async def test_drops_silently_before_the_start_and_after_the_stop(caplog):
    caplog.set_level(logging.DEBUG, logger="chatkernel.actors")
    bus = EventBus()
    errors = []
    bus.subscribe(FEATURE_ERROR, errors.append)
    system = ActorRegistry(bus=bus)
    created = system.register("created", Recorder())  # registered, not started
    assert forwarder(created)("STARTED", {"profile": "a"}) is None
    actor = await system.spawn(Recorder(), "recorder")
    listener = forwarder(actor)
    system.unregister("recorder")  # stops it
    assert not actor.running
    listener("STARTED", {"profile": "late"})  # actor.send would raise ActorError here
    await asyncio.sleep(0.01)
    await bus.drain()
    assert actor.machine.heard == [] and created.machine.heard == [] and errors == []
    assert "dropped" in caplog.text


async def test_a_report_from_another_thread_reaches_the_loop():
    system = ActorRegistry()
    actor = await system.spawn(Recorder(), "recorder")
    listener = forwarder(actor)
    await asyncio.to_thread(listener, "STARTED", {"count": 7})
    for _ in range(10):  # the hand-over from the thread is a loop callback
        await asyncio.sleep(0)
    await actor.settle()
    assert actor.machine.heard == [("STARTED", {"profile": None, "count": 7})]
    system.unregister("recorder")
    await asyncio.to_thread(listener, "DONE", {})  # stopped: dropped on either side of the hand-over
    await asyncio.sleep(0.01)
    assert len(actor.machine.heard) == 1


async def test_never_raises_a_refused_send_is_reported_instead():
    bus = EventBus()
    errors = []
    bus.subscribe(FEATURE_ERROR, errors.append)
    system = ActorRegistry(bus=bus)
    actor = await system.spawn(Recorder(), "recorder", feature="recorder")
    listener = forwarder(actor)
    listener("STARTED", {"state": "x"})  # a name python-statemachine passes itself: send refuses it
    actor.mailbox_limit = 0
    listener("STARTED", {"profile": "a"})  # a full mailbox
    await actor.settle()
    await bus.drain()
    assert actor.machine.heard == [] and actor.running
    assert [e.payload["feature"] for e in errors] == ["recorder", "recorder"]
    assert all("STARTED from the service was dropped" in e.payload["error"] for e in errors)
