"""The Machine base class: it talks to a MachineHost (an actor, or anything shaped like one),
emits with its specs' priorities, reports errors, and refuses commands whose keywords
python-statemachine would swallow."""

import asyncio

import pytest
from statemachine import State

from chatkernel import (
    FEATURE_ERROR,
    RESERVED_KWARGS,
    ActorError,
    ActorRegistry,
    EventBus,
    EventSpec,
    Machine,
    Feature,
    MountResult,
    Priority,
    bootstrap,
    fire,
)
from chatkernel._inspection import TransitionListener

pytestmark = pytest.mark.anyio

NOTED = EventSpec("NOTE_TAKEN", "HIGH", "a note was taken", {"text": str})
SHOUTED = EventSpec("NOTE_SHOUTED", "LOW", "a note was shouted")


class FakeHost:
    """A MachineHost that is not an Actor: machines must not need the actor layer."""

    id = "fake"

    def __init__(self):
        self.children = []
        self.calls = []
        self.errors = []

    def emit(self, event_type, payload=None, priority=None):
        self.calls.append(("emit", event_type, payload, priority))
        return "emitted"

    def send_parent(self, event, /, **data):
        self.calls.append(("send_parent", event, data))

    def send_to(self, actor_id, event, /, **data):
        self.calls.append(("send_to", actor_id, event, data))

    async def spawn(self, machine, actor_id, *, type="child"):
        self.calls.append(("spawn", actor_id, type))
        return machine

    def report_error(self, error):
        self.errors.append(error)


class Notes(Machine):
    idle = State(initial=True)
    busy = State()
    TAKE = idle.to(None, on="take")
    SHOUT = idle.to(None, on="shout")
    SET_THEME = idle.to(None, on="set_theme")
    BREAK = idle.to(None, on="explode")
    TELL = idle.to(None, on="tell")
    WORK = idle.to(busy)
    REST = busy.to(idle)
    PROBE = idle.to(None, on="probe") | busy.to(None, on="probe")
    busy_states = frozenset({"busy"})

    def __init__(self, **kw):
        self.theme = None
        self.kwargs_seen = None
        self.stepping_inside = None
        super().__init__(**kw)

    def take(self, text="hello", **_):
        self.emit(NOTED, {"text": text})

    def shout(self, **_):
        self.emit(SHOUTED, None, "HIGH")

    def set_theme(self, theme, **kw):
        self.theme = theme
        self.kwargs_seen = kw

    def explode(self, **_):
        raise ValueError("kaput")

    async def tell(self, **_):
        self.actor.send_parent("TOLD", n=1)
        self.actor.send_to("other", "TOLD", n=2)
        await self.actor.spawn(Notes(), "child")

    def probe(self, **_):
        self.stepping_inside = self.is_stepping()


async def started(machine=None):
    machine = machine or Notes()
    await machine.activate_initial_state()
    return machine


# ---------------------------------------------------------------------- emitting
async def test_emit_without_an_actor_is_an_actor_error():
    machine = await started()
    assert machine.actor is None
    with pytest.raises(ActorError, match="Notes is not driven by an actor"):
        machine.emit(NOTED, {"text": "x"})


async def test_emit_with_a_spec_uses_its_priority():
    bus = EventBus()  # the spec is not declared on this bus: the priority must come from the spec itself
    seen = []
    bus.subscribe("NOTE_TAKEN", seen.append)
    bus.subscribe("NOTE_SHOUTED", seen.append)
    actor = await ActorRegistry(bus=bus).spawn(Notes(), "notes", feature="notes")
    actor.send("TAKE", text="hi")
    actor.send("SHOUT")
    await actor.settle()
    await bus.drain()
    assert [(e.type, e.priority.name, e.source) for e in seen] == [
        ("NOTE_TAKEN", "HIGH", "notes"),  # the spec's priority, though the bus does not know the spec
        ("NOTE_SHOUTED", "HIGH", "notes"),  # an explicit priority wins over the spec's LOW
    ]


async def test_emit_in_a_strict_app_uses_the_declared_spec():
    async def mount(ctx):
        return MountResult(actor=await ctx.spawn(Notes()))

    app = await bootstrap([Feature(id="notes", name="Notes", on_mount=mount, emitted_events=[NOTED])])
    seen = []
    app.bus.subscribe("NOTE_TAKEN", seen.append)
    app.actors["notes"].send("TAKE", text="strict")
    await app.settle()
    assert [(e.priority.name, dict(e.payload)) for e in seen] == [("HIGH", {"text": "strict"})]
    errors = []
    app.bus.subscribe(FEATURE_ERROR, errors.append)
    app.actors["notes"].send("SHOUT")  # not in the feature's emitted_events: refused in strict mode
    await app.settle()
    assert [e.payload["error_type"] for e in errors] == ["InvalidEventError"]
    assert "NOTE_SHOUTED" in errors[0].payload["error"]
    await app.shutdown()


async def test_machine_talks_only_to_its_host():
    machine = await started()
    host = machine.actor = FakeHost()
    await machine.send("TELL")
    await machine.send("TAKE", text="t")
    assert host.calls == [
        ("send_parent", "TOLD", {"n": 1}),
        ("send_to", "other", "TOLD", {"n": 2}),
        ("spawn", "child", "child"),
        ("emit", NOTED, {"text": "t"}, Priority.HIGH),  # the spec's priority
    ]


# ---------------------------------------------------------------------- errors
async def test_callback_error_is_reported_through_the_host():
    machine = await started()
    host = machine.actor = FakeHost()
    await machine.send("BREAK")
    assert [repr(e) for e in host.errors] == ["ValueError('kaput')"]
    assert list(machine.configuration_values) == ["idle"]


async def test_callback_error_becomes_one_feature_error_on_the_bus():
    bus = EventBus()
    errors = []
    bus.subscribe(FEATURE_ERROR, errors.append)
    actor = await ActorRegistry(bus=bus).spawn(Notes(), "notes", feature="notes")
    actor.send("BREAK")
    actor.send("SET_THEME", theme="dark")  # the actor survives
    await actor.settle()
    await bus.drain()
    assert actor.machine.theme == "dark"
    [error] = errors
    assert error.payload["feature"] == "notes" and error.payload["error"] == "kaput"
    assert error.payload["error_type"] == "ValueError" and error.payload["event_type"] is None


async def test_failing_invoked_work_is_reported():
    class Failing(Machine):
        idle = State(initial=True)
        working = State()
        START = idle.to(working)

        async def on_invoke_working(self, **_):
            await asyncio.sleep(0)
            raise RuntimeError("invoke broke")

    machine = await started(Failing())
    host = machine.actor = FakeHost()
    await machine.send("START")
    for _ in range(20):
        await asyncio.sleep(0)
    assert [str(e) for e in host.errors] == ["invoke broke"]


# ---------------------------------------------------------------------- progress
async def test_is_stepping_and_is_busy():
    machine = await started()
    assert not machine.is_stepping() and not machine.is_busy()
    await machine.send("PROBE")
    assert machine.stepping_inside is True and not machine.is_stepping()
    await machine.send("WORK")
    assert machine.is_busy() and not machine.is_stepping()  # a busy state
    await machine.send("REST")
    assert not machine.is_busy()


async def test_inspector_is_built_unbound_and_bound_by_the_actor():
    machine = Notes()
    assert isinstance(machine.inspector, TransitionListener) and machine.inspector.sink is None
    system = ActorRegistry()
    actor = await system.spawn(machine, "notes")
    assert machine.inspector.actor_id == "notes" and machine.inspector.sink is not None
    actor.send("PROBE")
    await actor.settle()
    assert any(r.kind == "actor.snapshot" and r.data["event"] == "PROBE" for r in system.inspection)


# ---------------------------------------------------------------------- commands
async def test_commands_pass_their_keywords():
    actor = await ActorRegistry().spawn(Notes(), "notes")
    actor.send("SET_THEME", theme="dark", extra=3)
    await actor.settle()
    assert actor.machine.theme == "dark" and actor.machine.kwargs_seen["extra"] == 3


@pytest.mark.parametrize("key", sorted(RESERVED_KWARGS))
async def test_reserved_keywords_are_refused(key):
    actor = await ActorRegistry().spawn(Notes(), "notes")
    with pytest.raises(ActorError, match=rf"'{key}' is a name python-statemachine passes"):
        actor.send("SET_THEME", theme="dark", **{key: "mine"})
    with pytest.raises(ActorError, match=rf"'{key}'"):
        fire(actor, "SET_THEME", theme="dark", **{key: "mine"})
    await actor.settle()
    assert actor.processed == 0 and actor.machine.theme is None  # nothing was queued


def test_reserved_keywords_cover_what_the_library_injects():
    assert {"event", "event_data", "machine", "model", "source", "state", "target", "transition", "error",
            "data"} <= RESERVED_KWARGS
    assert "bus_event" not in RESERVED_KWARGS and "sender" not in RESERVED_KWARGS


async def test_subscribed_events_reach_a_machine_as_bus_event_only():
    spec = EventSpec("THEME_PICKED", "MEDIUM", "the user picked a theme", {"theme": str})

    class Picker(Notes):
        THEME_PICKED = Notes.idle.to(None, on="picked")

        def picked(self, bus_event, **kw):
            self.theme = bus_event.payload["theme"]
            self.kwargs_seen = kw

    async def mount(ctx):
        return MountResult(actor=await ctx.spawn(Picker()))

    app = await bootstrap([Feature(id="picker", name="Picker", on_mount=mount, subscribed_events=["THEME_PICKED"])],
                          events=[spec])
    event = app.dispatch(spec, {"theme": "dark"})
    await app.settle()
    machine = app.actors["picker"].machine
    assert machine.theme == "dark" and "theme" not in machine.kwargs_seen
    assert machine.kwargs_seen["event"] == "THEME_PICKED" and event.payload == {"theme": "dark"}
    await app.shutdown()
