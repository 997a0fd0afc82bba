"""Causality: an event's ``cause`` is the event being handled when it was dispatched, and
only that. Work that outlives the event that started it (invoked by a state, or started with
``ctx.start_task`` / ``spawn_task``) starts a new chain: what it dispatches has cause None."""

import asyncio

import pytest
from statemachine import State

from chatkernel import (
    APP_READY,
    EventBus,
    EventSpec,
    Feature,
    Machine,
    MountResult,
    bootstrap,
    new_chain,
    spawn_task,
)
from chatkernel._causality import current_cause

pytestmark = pytest.mark.anyio

POLLED = EventSpec("POLL_RECEIVED", "MEDIUM", "one result of the long poll", {"n": int})
PING = EventSpec("PING_SENT", "MEDIUM", "the user pinged")
PONG = EventSpec("PONG_SENT", "MEDIUM", "the feature answered a ping", {"how": str})
WORKED = EventSpec("WORK_DONE", "LOW", "the background task did one unit of work", {"n": int})


class Collector:
    """Collects events of some types; ``wait(n)`` returns once ``n`` have arrived (no clock)."""

    def __init__(self, bus, *types):
        self.events = []
        self._more = asyncio.Event()
        for t in types:
            bus.subscribe(t, self._add)

    def _add(self, event):
        self.events.append(event)
        self._more.set()

    async def wait(self, n, timeout=5.0):
        async with asyncio.timeout(timeout):
            while len(self.events) < n:
                self._more.clear()
                await self._more.wait()
        return self.events[:n]


class LongPoller(Machine):
    """Entered on APP_READY, the polling state invokes work that dispatches in a loop."""

    idle = State(initial=True)
    polling = State()
    APP_READY = idle.to(polling)

    def __init__(self, **kw):
        self.cancelled = asyncio.Event()
        super().__init__(**kw)

    async def on_invoke_polling(self, **_):
        try:
            n = 0
            while True:
                self.emit(POLLED, {"n": n})
                n += 1
                for _ in range(3):
                    await asyncio.sleep(0)
                if n >= 3:
                    await asyncio.Event().wait()  # a long poll that never answers
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_invoked_long_running_work_does_not_claim_app_ready_as_cause():
    ready = []

    async def mount(ctx):
        return MountResult(actor=await ctx.spawn(LongPoller()))

    def watch(ctx):
        ctx.subscribe(APP_READY, ready.append)

    poller = Feature(id="poller", name="Poller", on_mount=mount, subscribed_events=[APP_READY],
                     emitted_events=[POLLED])
    watcher = Feature(id="watcher", name="Watcher", on_mount=watch)
    app = await bootstrap([watcher, poller])
    collector = Collector(app.bus, "POLL_RECEIVED")
    events = await collector.wait(3)
    [ready_event] = ready
    assert [e.payload["n"] for e in events] == [0, 1, 2]
    assert [e.cause for e in events] == [None, None, None]  # not ready_event.id
    assert {e.source for e in events} == {"poller"}
    machine = app.actors["poller"].machine
    assert ready_event.id not in {e.cause for e in events}
    await app.shutdown()
    assert machine.cancelled.is_set()


class Responder(Machine):
    idle = State(initial=True)
    PING_SENT = idle.to(None, on="reply")
    ASYNC_PING = idle.to(None, on="reply_later")
    COMMAND = idle.to(None, on="reply_to_command")

    def reply(self, bus_event, **_):
        self.emit(PONG, {"how": "sync"})

    async def reply_later(self, **_):
        await asyncio.sleep(0)
        self.emit(PONG, {"how": "async"})

    def reply_to_command(self, **_):
        self.emit(PONG, {"how": "command"})


async def test_event_emitted_from_a_transition_callback_is_caused_by_the_handled_event():
    async def mount(ctx):
        return MountResult(actor=await ctx.spawn(Responder()))

    responder = Feature(id="responder", name="Responder", on_mount=mount, subscribed_events=["PING_SENT"],
                        emitted_events=[PONG])
    app = await bootstrap([responder], events=[PING])
    collector = Collector(app.bus, "PONG_SENT")
    ping = app.dispatch(PING)
    [pong] = await collector.wait(1)
    assert pong.cause == ping.id and pong.source == "responder" and pong.payload["how"] == "sync"

    # a command sent straight to the actor, outside any handled event: a new chain
    app.actors["responder"].send("COMMAND")
    [_, pong2] = await collector.wait(2)
    assert pong2.payload["how"] == "command" and pong2.cause is None

    # an async callback that awaits before emitting keeps the cause of the event it handles
    actor = app.actors["responder"]
    app.bus.subscribe("PING_SENT", lambda e: actor.send("ASYNC_PING", bus_event=e), owner="responder")
    ping2 = app.dispatch(PING)
    events = await collector.wait(4)
    assert {(e.payload["how"], e.cause) for e in events[2:]} == {("sync", ping2.id), ("async", ping2.id)}
    await app.shutdown()


@pytest.mark.parametrize("started_from", ["async handler", "machine callback"])
async def test_start_task_starts_a_new_chain_and_is_cancelled_at_unmount(started_from):
    state = {"cancelled": asyncio.Event(), "task": None, "cause_seen": "unset"}

    def start(ctx):
        async def work():
            try:
                state["cause_seen"] = current_cause.get()
                for n in range(2):
                    ctx.emit(WORKED, {"n": n})
                    await asyncio.sleep(0)
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                state["cancelled"].set()
                raise
        # the context this runs in is handling PING_SENT: a plain create_task would inherit it
        state["outer_cause"] = current_cause.get()
        state["task"] = ctx.start_task(work())

    class Starter(Machine):
        idle = State(initial=True)
        PING_SENT = idle.to(None, on="begin")

        def __init__(self, ctx, **kw):
            self.ctx = ctx
            super().__init__(**kw)

        def begin(self, **_):
            start(self.ctx)

    async def mount(ctx):
        if started_from == "machine callback":
            return MountResult(actor=await ctx.spawn(Starter(ctx)))

        async def handler(event):
            start(ctx)
        return MountResult(handler=handler)

    worker = Feature(id="worker", name="Worker", on_mount=mount, subscribed_events=["PING_SENT"],
                     emitted_events=[WORKED])
    app = await bootstrap([worker], events=[PING])
    collector = Collector(app.bus, "WORK_DONE")
    ping = app.dispatch(PING)
    events = await collector.wait(2)
    assert state["outer_cause"] is not None and state["outer_cause"][0] == ping.id
    assert state["cause_seen"] is None
    assert [(e.payload["n"], e.cause, e.source) for e in events] == [(0, None, "worker"), (1, None, "worker")]
    task = state["task"]
    assert not task.done()
    await app.registry.unmount("worker")
    assert state["cancelled"].is_set() and task.cancelled()
    await app.shutdown()


async def test_async_bus_handlers_keep_the_handled_event_as_cause():
    async def mount(ctx):
        async def handler(event):
            await asyncio.sleep(0)
            ctx.emit(PONG, {"how": "feature"})
            await asyncio.sleep(0)
            ctx.bus.dispatch("PONG_SENT", {"how": "bare"})  # no source given: the handler's owner
        return MountResult(handler=handler)

    answerer = Feature(id="answerer", name="Answerer", on_mount=mount, subscribed_events=["PING_SENT"],
                       emitted_events=[PONG])
    app = await bootstrap([answerer], events=[PING])
    collector = Collector(app.bus, "PONG_SENT")
    ping = app.dispatch(PING)
    events = await collector.wait(2)
    assert [(e.payload["how"], e.cause, e.source) for e in events] == [
        ("feature", ping.id, "answerer"), ("bare", ping.id, "answerer")]
    await app.shutdown()


async def test_sync_handler_dispatch_is_caused_by_the_delivered_event():
    bus = EventBus()
    seen = []
    bus.subscribe("PING_SENT", lambda e: bus.dispatch("PONG_SENT"), owner="echo")
    bus.subscribe("PONG_SENT", seen.append)
    ping = bus.dispatch("PING_SENT")
    await bus.drain()
    [pong] = seen
    assert pong.cause == ping.id and pong.source == "echo"
    loose = bus.dispatch("PONG_SENT")
    assert loose.cause is None and loose.source is None


async def test_new_chain_and_spawn_task():
    seen = {}

    async def work():
        seen["cause"] = current_cause.get()
        return "done"

    async def peek():
        return current_cause.get()

    token = current_cause.set((7, "owner"))
    try:
        chain = new_chain()
        assert chain.run(current_cause.get) is None
        assert current_cause.get() == (7, "owner")  # the caller's context is untouched
        inherited = asyncio.get_running_loop().create_task(peek())
        task = spawn_task(work(), name="fresh")
    finally:
        current_cause.reset(token)
    assert await inherited == (7, "owner")  # what a plain task would have claimed
    assert await task == "done" and seen["cause"] is None and task.get_name() == "fresh"
