import asyncio

import pytest
from statemachine import State

from chatkernel import ActorError, ActorRegistry, EventBus, FEATURE_ERROR, Machine, SnapshotError, fire

pytestmark = pytest.mark.anyio


class Toggle(Machine):
    off = State(initial=True)
    on = State()
    FLIP = off.to(on) | on.to(off)
    snapshot_fields = ("flips",)

    def __init__(self, **kw):
        self.flips = 0
        super().__init__(**kw)

    def on_transition(self, **_):
        self.flips += 1


class Conversation(Machine):
    idle = State(initial=True)
    unread = State()
    MESSAGE_RECEIVED = idle.to(unread, on="count") | unread.to(None, on="count")
    READ = unread.to(idle)

    def __init__(self, contact, **kw):
        self.contact, self.unread_count = contact, 0
        super().__init__(**kw)

    def count(self, **_):
        self.unread_count += 1
        self.actor.send_parent("CONVERSATION_UPDATED", contact=self.contact, unread=self.unread_count)


class Chat(Machine):
    running = State(initial=True)
    CONTACT_SELECTED = running.to(None, cond="not_open", on="open")
    MESSAGE_RECEIVED = running.to(None, on="forward")
    CONVERSATION_UPDATED = running.to(None, on="note")

    def __init__(self, **kw):
        self.badges = {}
        super().__init__(**kw)

    def not_open(self, contact, **_):
        return f"conv-{contact}" not in self.actor.children

    async def open(self, contact, **_):
        await self.actor.spawn(Conversation(contact), f"conv-{contact}", type="conversation")

    def forward(self, sender, **_):
        self.actor.send_to(f"conv-{sender}", "MESSAGE_RECEIVED")

    def note(self, contact, unread, **_):
        self.badges[contact] = unread


class Poller(Machine):
    """A long-running invoke streaming events back, handled by a targetless transition."""
    stopped = State(initial=True)
    polling = State(invoke="poll")
    START = stopped.to(polling)
    STOP = polling.to(stopped)
    TICK = polling.to(None, on="tick")

    def __init__(self, *, want=5, **kw):
        self.ticks = 0
        self.want = want
        self.enough = asyncio.Event()
        self.cancelled = asyncio.Event()
        super().__init__(**kw)

    async def poll(self, ctx):
        try:
            while True:
                await asyncio.sleep(0)
                await ctx.send("TICK")
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    def tick(self, **_):
        self.ticks += 1
        if self.ticks >= self.want:
            self.enough.set()


async def test_actor_lifecycle_send_in_order_and_inspection():
    system = ActorRegistry()
    records = []
    system.inspect(records.append)
    actor = await system.spawn(Toggle(), "toggle", type="ui", feature="demo")
    assert actor.state == ["off"] and actor.running
    for _ in range(3):
        actor.send("FLIP")
    await actor.settle()
    assert actor.state == ["on"] and actor.machine.flips == 3 and actor.processed == 3
    actor.send("UNKNOWN_EVENT")
    await actor.settle()
    kinds = [r.kind for r in records]
    assert kinds[0] == "actor.created" and "actor.snapshot" in kinds and kinds[-1] == "actor.ignored"
    system.unregister("toggle")
    assert actor.status == "stopped" and "toggle" not in system
    assert records[-1].kind == "actor.stopped"
    with pytest.raises(ActorError, match="stopped"):
        actor.send("FLIP")


async def test_registry_metadata_and_active_actor_gauge():
    system = ActorRegistry()
    await system.spawn(Toggle(), "a", type="ui", feature="f1")
    await system.spawn(Toggle(), "b", type="worker", feature="f1")
    assert [a.id for a in system.all(type="ui")] == ["a"]
    assert [a.id for a in system.all(feature="f1")] == ["a", "b"]
    assert system.info("b").type == "worker"
    assert system.metrics.get("feature.f1.active_actors") == 2
    system.unregister("a")
    assert system.metrics.get("feature.f1.active_actors") == 1
    with pytest.raises(ActorError, match="already registered"):
        system.register("b", Toggle())
    with pytest.raises(ActorError, match="not registered"):
        system.unregister("zzz")
    with pytest.raises(ActorError, match="parent"):
        system.register("c", Toggle(), parent="nobody")
    assert system.get("zzz") is None


async def test_spawned_children_send_to_parent_and_stop_with_it():
    system = ActorRegistry()
    chat = await system.spawn(Chat(), "chat", feature="chat")
    chat.send("CONTACT_SELECTED", contact="alice")
    chat.send("CONTACT_SELECTED", contact="alice")  # guarded: no second child
    await system.settle()
    assert chat.children == ["conv-alice"] and system.info("conv-alice").parent == "chat"
    chat.send("MESSAGE_RECEIVED", sender="alice")
    chat.send("MESSAGE_RECEIVED", sender="alice")
    await system.settle()
    await system.settle()
    assert chat.machine.badges == {"alice": 2}
    assert system["conv-alice"].state == ["unread"]
    system.unregister("chat")
    assert len(system) == 0


async def test_invoke_streams_and_stop_cancels_invoked_work():
    system = ActorRegistry()
    poller = await system.spawn(Poller(), "poller")
    poller.send("START")
    await asyncio.wait_for(poller.machine.enough.wait(), 5)
    system.unregister("poller")
    await asyncio.wait_for(poller.machine.cancelled.wait(), 5)
    ticks = poller.machine.ticks
    for _ in range(50):
        await asyncio.sleep(0)
    assert poller.machine.ticks == ticks  # no event after stop


async def test_snapshot_and_restore_roundtrip():
    system = ActorRegistry()
    toggle = await system.spawn(Toggle(), "toggle")
    toggle.send("FLIP")
    await toggle.settle()
    snap = toggle.snapshot()
    assert snap["version"] == 1 and snap["configuration"] == ["on"] and snap["context"] == {"flips": 1}
    system.unregister("toggle")
    restored = await system.restore(snap, Toggle, resume_event="FLIP")
    await restored.settle()
    assert restored.state == ["off"] and restored.machine.flips == 2


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.update(version=99), "version 99"),
    (lambda s: s.update(configuration=[]), "non-empty list"),
    (lambda s: s.update(configuration=["nowhere"]), "do not exist"),
    (lambda s: s.update(machine="other.Machine"), "snapshot is of"),
    (lambda s: s.update(context={"secret": 1}), "not declared"),
])
async def test_restore_rejects_bad_snapshots(mutate, message):
    system = ActorRegistry()
    toggle = await system.spawn(Toggle(), "toggle")
    snap = toggle.snapshot()
    system.unregister("toggle")
    mutate(snap)
    with pytest.raises(SnapshotError, match=message):
        await system.restore(snap, Toggle)
    assert "toggle" not in system


async def test_actor_failure_becomes_feature_error_and_actor_survives():
    class Fragile(Machine):
        idle = State(initial=True)
        BREAK_NOW = idle.to(None, on="explode")
        PING_SENT = idle.to(None, on="ping")

        def __init__(self, **kw):
            self.pings = 0
            super().__init__(**kw)

        def explode(self, **_):
            raise ValueError("kaput")

        def ping(self, **_):
            self.pings += 1

    bus = EventBus()
    errors = []
    bus.subscribe(FEATURE_ERROR, errors.append)
    system = ActorRegistry(bus=bus)
    actor = await system.spawn(Fragile(), "fragile", feature="fragile")
    actor.send("BREAK_NOW")
    actor.send("PING_SENT")
    await actor.settle()
    await bus.drain()
    assert actor.machine.pings == 1 and actor.running
    [error] = errors
    assert error.payload["feature"] == "fragile" and error.payload["error"] == "kaput"
    assert any(r.kind == "actor.error" for r in system.inspection)


async def test_fire_from_ui_callbacks_and_threads():
    system = ActorRegistry()
    toggle = await system.spawn(Toggle(), "toggle")
    fire(toggle, "FLIP")
    await toggle.settle()
    assert toggle.state == ["on"]
    await asyncio.to_thread(fire, toggle, "FLIP")
    for _ in range(10):  # the hand-over from the thread is a loop callback
        await asyncio.sleep(0)
    await toggle.settle()
    assert toggle.state == ["off"] and toggle.machine.flips == 2
    bare = Toggle()
    await bare.activate_initial_state()
    fire(bare, "FLIP")
    for _ in range(10):  # a scheduled coroutine on a bare machine
        await asyncio.sleep(0)
    assert list(bare.configuration_values) == ["on"]
    with pytest.raises(TypeError):
        fire("not an actor", "FLIP")  # type: ignore[arg-type]


async def test_inspection_masks_secrets():
    system = ActorRegistry()
    toggle = await system.spawn(Toggle(), "toggle")
    toggle.send("FLIP", password="hunter2", note="x" * 200)
    await toggle.settle()
    event = next(r for r in system.inspection if r.kind == "actor.event")
    assert event.data["data"]["password"] == "***"
    assert len(event.data["data"]["note"]) == 80
    assert "hunter2" not in repr(list(system.inspection))


async def test_mailbox_limit_is_enforced():
    system = ActorRegistry()
    toggle = system.register("toggle", Toggle())
    toggle.mailbox_limit = 2
    await toggle.start()
    toggle.send("FLIP")
    toggle.send("FLIP")
    with pytest.raises(ActorError, match="full"):
        toggle.send("FLIP")
    await toggle.settle()


async def test_regression_targetless_transition_keeps_single_invoke():
    """Pitfall from the brief: internal self-transitions restart invokes without cancelling the
    old one. Machines use targetless transitions; after many TICKs only one poll task runs."""
    system = ActorRegistry()
    poller = await system.spawn(Poller(want=10), "poller")
    poller.send("START")
    await asyncio.wait_for(poller.machine.enough.wait(), 5)
    invocations = poller.machine._engine._invoke_manager._active.values()
    running = [inv for inv in invocations if inv.task is not None and not inv.task.done()]
    assert poller.machine.ticks >= 10 and len(running) == 1
    system.unregister("poller")


async def test_send_to_records_the_sender():
    system = ActorRegistry()
    records = []
    system.inspect(records.append)
    sender = await system.spawn(Toggle(), "sender")
    target = await system.spawn(Toggle(), "target")
    sender.send_to("target", "FLIP", note="hi")
    await system.settle()
    assert target.state == ["on"] and sender.state == ["off"]
    [received] = [r for r in records if r.kind == "actor.event" and r.actor == "target"]
    assert received.data["sender"] == "sender" and received.data["data"]["note"] == "hi"
    with pytest.raises(ActorError, match="not registered"):
        sender.send_to("nobody", "FLIP")
    with pytest.raises(ActorError, match="has no parent"):
        sender.send_parent("FLIP")


async def test_snapshot_names_the_feature():
    system = ActorRegistry()
    toggle = await system.spawn(Toggle(), "toggle", feature="demo")
    loose = await system.spawn(Toggle(), "loose")
    assert toggle.snapshot()["feature"] == "demo" and loose.snapshot()["feature"] is None


async def test_emit_goes_through_the_emitter_or_straight_on_the_bus():
    bus = EventBus()
    seen = []
    bus.subscribe("TOGGLE_FLIPPED", seen.append)
    system = ActorRegistry(bus=bus)
    plain = await system.spawn(Toggle(), "plain", feature="demo")
    event = plain.emit("TOGGLE_FLIPPED", {"on": True})
    await bus.drain()
    assert seen == [event] and event.source == "demo" and event.priority.name == "MEDIUM"

    calls = []

    def emitter(event_type, payload=None, priority=None):
        calls.append((event_type, payload, priority))
        return "emitted"

    parent = await system.spawn(Toggle(), "parent", feature="demo", emitter=emitter)
    assert parent.emit("TOGGLE_FLIPPED", {"on": False}, "LOW") == "emitted"
    child = await parent.spawn(Toggle(), "child")
    assert child.emitter is emitter and system.info("child").feature == "demo"  # children emit as the feature
    child.emit("TOGGLE_FLIPPED")
    assert calls == [("TOGGLE_FLIPPED", {"on": False}, "LOW"), ("TOGGLE_FLIPPED", None, None)]

    busless = await ActorRegistry().spawn(Toggle(), "busless")
    with pytest.raises(ActorError, match="no bus"):
        busless.emit("TOGGLE_FLIPPED")


async def test_restore_passes_the_emitter_and_rejects_non_mappings():
    system = ActorRegistry()
    toggle = await system.spawn(Toggle(), "toggle")
    snap = toggle.snapshot()
    system.unregister("toggle")

    def emitter(*args):
        return args

    restored = await system.restore(snap, Toggle, feature="demo", emitter=emitter)
    assert restored.emitter is emitter and system.info("toggle").feature == "demo"
    with pytest.raises(SnapshotError, match="mapping"):
        await system.restore(["not", "a", "snapshot"], Toggle, actor_id="x")  # type: ignore[arg-type]
