import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import State

from chatkernel import (
    APP_READY,
    FEATURE_ERROR,
    RESERVED_KWARGS,
    ActorError,
    DependencyCycleError,
    DuplicateFeatureError,
    EventBus,
    EventSpec,
    EventSpecConflictError,
    Feature,
    FeatureContractError,
    FeatureRegistry,
    InvalidEventError,
    Machine,
    MissingDependencyError,
    MountResult,
    PayloadError,
    Priority,
    UnknownFeatureError,
    bootstrap,
    topological_order,
)

pytestmark = pytest.mark.anyio

WORD_SAID = EventSpec("WORD_SAID", "LOW", "a word was said", {"word": str, "loud": bool})
WORD_SAID_V2 = EventSpec("WORD_SAID", "HIGH", "a word was said, with its language", {"word": str, "lang": str})


def feature(fid, deps=(), log=None, fail=False, **kw):
    def on_mount(ctx):
        if log is not None:
            log.append(("mount", fid))
        if fail:
            raise RuntimeError(f"{fid} is broken")
        return MountResult(service=fid)

    def on_unmount(ctx):
        if log is not None:
            log.append(("unmount", fid))

    return Feature(id=fid, name=fid.title(), on_mount=on_mount, on_unmount=on_unmount, dependencies=deps, **kw)


def test_duplicate_and_unknown_ids():
    reg = FeatureRegistry()
    reg.register(feature("a"))
    with pytest.raises(DuplicateFeatureError) as info:
        reg.register(feature("a"))
    assert info.value.feature_id == "a"
    with pytest.raises(UnknownFeatureError):
        reg.get("zzz")


def test_order_is_deterministic_and_independent_of_registration_order():
    specs = [("chat", ("contacts", "crypto")), ("contacts", ("persistence",)), ("crypto", ()),
             ("persistence", ()), ("shell", ("chat",))]
    orders = set()
    for rotation in range(len(specs)):
        reg = FeatureRegistry()
        for fid, deps in specs[rotation:] + specs[:rotation]:
            reg.register(feature(fid, deps))
        orders.add(tuple(reg.order()))
    assert orders == {("crypto", "persistence", "contacts", "chat", "shell")}


def test_cycle_reported_as_full_path():
    reg = FeatureRegistry()
    for fid, deps in [("a", ("b",)), ("b", ("c",)), ("c", ("a",)), ("d", ())]:
        reg.register(feature(fid, deps))
    with pytest.raises(DependencyCycleError) as info:
        reg.order()
    assert info.value.cycle == ("a", "b", "c", "a")
    assert str(info.value) == "dependency cycle: a -> b -> c -> a"


def test_missing_dependency_names_who_needs_it():
    reg = FeatureRegistry()
    reg.register(feature("chat", ("crypto",)))
    with pytest.raises(MissingDependencyError) as info:
        reg.order()
    assert (info.value.feature_id, info.value.dependency) == ("chat", "crypto")
    assert "'chat' depends on 'crypto'" in str(info.value)


async def test_mount_in_order_unmount_in_reverse():
    log = []
    reg = FeatureRegistry()
    for fid, deps in [("c", ("b",)), ("b", ("a",)), ("a", ())]:
        reg.register(feature(fid, deps, log))
    report = await reg.mount_all()
    assert report.mounted == ["a", "b", "c"] and report.ok
    assert reg.mount_result("b").service == "b"
    await reg.unmount_all()
    assert log == [("mount", "a"), ("mount", "b"), ("mount", "c"),
                   ("unmount", "c"), ("unmount", "b"), ("unmount", "a")]
    assert not any(reg.is_mounted(f) for f in "abc")


async def test_failure_degrades_and_skips_dependents_with_reasons():
    errors = []
    reg = FeatureRegistry()
    reg.bus.subscribe(FEATURE_ERROR, errors.append)
    reg.register(feature("base"))
    reg.register(feature("broken", ("base",), fail=True))
    reg.register(feature("consumer", ("broken",)))
    reg.register(feature("indirect", ("consumer",)))
    reg.register(feature("fine", ("base",)))
    report = await reg.mount_all()
    await reg.bus.drain()
    assert report.mounted == ["base", "fine"]
    assert report.failed == {"broken": "on_mount raised RuntimeError: broken is broken"}
    assert report.skipped == {"consumer": "depends on 'broken', which failed to mount",
                              "indirect": "depends on 'consumer', which was skipped"}
    assert report.degraded
    assert [(e.payload["feature"], e.payload["phase"]) for e in errors] == [("broken", "mount")]
    # a mount failure happens outside any event: no event type or id (None, not "" or 0)
    assert errors[0].payload["event_type"] is None and errors[0].payload["event_id"] is None
    assert errors[0].payload["error_type"] == "RuntimeError"
    assert reg.metrics.get("feature.broken.errors") == 1
    assert reg.status("broken") == "failed" and reg.status("consumer") == "skipped"


async def test_on_register_failure_and_async_on_register():
    calls = []

    async def later(ctx):
        calls.append(ctx.feature_id)

    reg = FeatureRegistry()
    reg.register(Feature(id="bad", name="Bad", on_mount=lambda c: None, on_register=lambda c: 1 / 0))
    reg.register(Feature(id="good", name="Good", on_mount=lambda c: None, on_register=later))
    report = await reg.mount_all()
    assert report.failed == {"bad": "on_register raised ZeroDivisionError: division by zero"}
    assert report.mounted == ["good"] and calls == ["good"]


async def test_unmount_errors_are_contained():
    reg = FeatureRegistry()
    reg.register(Feature(id="a", name="A", on_mount=lambda c: None, on_unmount=lambda c: 1 / 0))
    await reg.mount_all()
    assert await reg.unmount_all() == ["a"]
    assert reg.metrics.get("feature.a.errors") == 1


async def test_mount_result_contract_errors():
    reg = FeatureRegistry()
    reg.register(Feature(id="wrong", name="Wrong", on_mount=lambda c: 42))
    reg.register(Feature(id="deaf", name="Deaf", on_mount=lambda c: None, subscribed_events=["APP_READY"]))
    report = await reg.mount_all()
    assert "must return a MountResult or None, got int" in report.failed["wrong"]
    assert "subscribes to APP_READY but on_mount returned neither" in report.failed["deaf"]


async def test_flags_disable_and_report_dependents():
    reg = FeatureRegistry(flags={"voice": False})
    reg.register(feature("voice"))
    reg.register(feature("recorder", ("voice",)))
    reg.register(feature("chat"))
    report = await reg.mount_all()
    assert report.disabled == ["voice"] and report.mounted == ["chat"]
    assert report.skipped == {"recorder": "depends on 'voice', which is disabled"}
    with pytest.raises(FeatureContractError):
        reg.set_enabled("voice", "yes")  # type: ignore[arg-type]
    with pytest.raises(FeatureContractError):
        reg.set_enabled("Bad Id", True)


async def test_subscribed_events_route_to_handler_with_metrics():
    seen = []
    reg = FeatureRegistry()
    reg.register(Feature(id="listener", name="L", subscribed_events=["PING_SENT"],
                         on_mount=lambda c: MountResult(handler=seen.append)))
    await reg.mount_all()
    reg.bus.dispatch("PING_SENT", {"n": 1})
    await reg.bus.drain()
    assert [e.payload["n"] for e in seen] == [1]
    assert reg.metrics.get("feature.listener.events.PING_SENT") == 1
    await reg.unmount_all()
    reg.bus.dispatch("PING_SENT")
    await reg.bus.drain()
    assert len(seen) == 1  # unsubscribed on unmount


async def test_context_emit_stamps_source_and_records_undeclared():
    got = []
    reg = FeatureRegistry()
    reg.register(Feature(id="talker", name="T", emitted_events=[WORD_SAID], on_mount=lambda c: None))
    await reg.mount_all()
    reg.bus.subscribe("WORD_SAID", got.append)
    reg.bus.subscribe("WORD_SHOUTED", got.append)
    ctx = reg.context("talker")
    ctx.emit(WORD_SAID, {"word": "hi", "loud": False})
    ctx.emit("WORD_SHOUTED")
    await reg.bus.drain()
    assert not reg.bus.strict  # a bare registry's bus is lenient: undeclared types are counted, not refused
    # WORD_SAID is declared LOW, the undeclared WORD_SHOUTED defaults to MEDIUM and overtakes it
    assert [(e.type, e.source) for e in got] == [("WORD_SHOUTED", "talker"), ("WORD_SAID", "talker")]
    assert reg.metrics.get("feature.talker.undeclared_events.WORD_SHOUTED") == 1
    assert reg.metrics.get("feature.talker.undeclared_events.WORD_SAID") == 0


async def test_dependency_access_only_for_declared_dependencies():
    seen = {}

    def mount_chat(ctx):
        seen["crypto"] = ctx.dependency("crypto")  # the service itself, not the MountResult
        with pytest.raises(FeatureContractError, match="not in its dependencies"):
            ctx.dependency("other")

    reg = FeatureRegistry()
    reg.register(feature("crypto"))
    reg.register(feature("other"))
    reg.register(Feature(id="chat", name="Chat", dependencies=["crypto"], on_mount=mount_chat))
    report = await reg.mount_all()
    assert report.ok and seen == {"crypto": "crypto"}


async def test_replace_hot_reloads_feature_and_dependents():
    log = []
    reg = FeatureRegistry()
    reg.register(feature("base", log=log))
    reg.register(feature("consumer", ("base",), log=log))
    reg.register(feature("other", log=log))
    await reg.mount_all()
    log.clear()
    new = Feature(id="base", name="Base v2", version="2.0.0", on_mount=lambda c: MountResult(service="v2"))
    report = await reg.replace(new)
    assert report.mounted == ["base", "consumer"]
    assert log == [("unmount", "consumer"), ("unmount", "base"), ("mount", "consumer")]
    assert reg.mount_result("base").service == "v2" and reg.get("base").version == "2.0.0"
    assert reg.metrics.get("feature.base.reloads") == 1


async def test_replace_with_a_cycle_leaves_the_app_untouched():
    reg = FeatureRegistry()
    reg.register(feature("a"))
    reg.register(feature("b", ("a",)))
    await reg.mount_all()
    with pytest.raises(DependencyCycleError):
        await reg.replace(feature("a", ("b",)))
    assert reg.is_mounted("a") and reg.is_mounted("b") and reg.get("a").dependencies == ()
    with pytest.raises(UnknownFeatureError):
        await reg.replace(feature("new"))


async def test_mount_single_feature_mounts_dependencies_first():
    log = []
    reg = FeatureRegistry()
    reg.register(feature("a", log=log))
    reg.register(feature("b", ("a",), log=log))
    reg.register(feature("c", log=log))
    await reg.mount("b")
    assert log == [("mount", "a"), ("mount", "b")]
    await reg.unmount("a")
    assert log[-2:] == [("unmount", "b"), ("unmount", "a")]


def test_unregister_rules():
    reg = FeatureRegistry()
    reg.register(feature("a"))
    reg.register(feature("b", ("a",)))
    with pytest.raises(FeatureContractError, match="needed by b"):
        reg.unregister("a")
    reg.unregister("b")
    reg.unregister("a")
    assert len(reg) == 0


def test_graph_data_and_renderers():
    reg = FeatureRegistry(flags={"c": False})
    reg.register(feature("b", ("a",)))
    reg.register(feature("a"))
    reg.register(feature("c"))
    graph = reg.graph()
    assert [n.id for n in graph.nodes] == ["a", "b", "c"] and graph.edges == (("b", "a"),)
    assert '"b" -> "a";' in graph.to_dot()
    assert "b --> a" in graph.to_mermaid() and ":::disabled" in graph.to_mermaid()
    assert graph.to_text().splitlines()[1] == "b [registered] <- needs a"


# ---------------------------------------------------------------------- event specs
WORD_WHISPERED = EventSpec("WORD_WHISPERED", "LOW", "a word was whispered", {"word": str})
OTHER_THING = EventSpec("OTHER_THING", "MEDIUM", "something else happened")


def emitter(fid, *specs, log=None, **kw):
    def on_mount(ctx):
        if log is not None:
            log.append(("mount", fid))
        return MountResult(service=fid)

    def on_unmount(ctx):
        if log is not None:
            log.append(("unmount", fid))

    return Feature(id=fid, name=fid.title(), emitted_events=list(specs), on_mount=on_mount,
                   on_unmount=on_unmount, **kw)


def test_second_declarer_of_a_type_is_refused_at_register_and_nothing_is_registered():
    registered = []
    reg = FeatureRegistry()
    reg.register(emitter("talker", WORD_SAID))
    with pytest.raises(EventSpecConflictError) as info:
        reg.register(emitter("copycat", OTHER_THING, WORD_SAID_V2, on_register=registered.append))
    err = info.value
    assert (err.event_type, err.first, err.second) == ("WORD_SAID", "talker", "copycat")
    assert "'talker'" in str(err) and "'copycat'" in str(err) and "WORD_SAID" in str(err)
    assert "copycat" not in reg and len(reg) == 1 and registered == []
    # all or nothing: the copycat's other, unconflicting type was not declared either
    assert reg.catalog.get("OTHER_THING") is None
    assert reg.catalog.owner("WORD_SAID") == "talker" and reg.catalog.get("WORD_SAID") is WORD_SAID
    # once the first declarer is gone, the type is free again
    reg.unregister("talker")
    assert reg.catalog.get("WORD_SAID") is None
    reg.register(emitter("copycat", OTHER_THING, WORD_SAID_V2))
    assert reg.catalog.owner("WORD_SAID") == "copycat"


@pytest.mark.parametrize("kernel_type", ["APP_READY", "APP_SHUTDOWN", "FEATURE_ERROR", "FEATURE_MOUNTED",
                                         "FEATURE_UNMOUNTED"])
def test_declaring_a_kernel_type_is_refused(kernel_type):
    reg = FeatureRegistry()
    with pytest.raises(EventSpecConflictError) as info:
        reg.register(emitter("usurper", EventSpec(kernel_type, "HIGH", "mine now")))
    assert (info.value.first, info.value.second) == ("kernel", "usurper")
    assert "usurper" not in reg and reg.catalog.owner(kernel_type) == "kernel"


async def test_unheard_lists_subscribed_types_no_mounted_feature_declares():
    reg = FeatureRegistry()
    reg.bus.catalog.declare("user", [EventSpec("CELL_RUN", "LOW", "a notebook cell dispatched this")])
    reg.register(emitter("talker", WORD_SAID))
    reg.register(Feature(id="listener", name="L", on_mount=lambda c: MountResult(handler=print),
                         subscribed_events=["WORD_SAID", "PING_SENT", APP_READY, "CELL_RUN", "OTHER_THING"]))
    report = await reg.mount_all()
    assert report.ok  # unheard is a warning, not a failure
    assert report.unheard == {"listener": ["PING_SENT", "OTHER_THING"]} == reg.unheard()
    assert "unheard listener: nothing declares PING_SENT, OTHER_THING" in report.lines()


@pytest.mark.parametrize("flags, broken", [({"talker": False}, False), ({}, True)])
async def test_an_emitter_that_is_not_mounted_leaves_its_types_unheard(flags, broken):
    reg = FeatureRegistry(flags=flags)
    reg.register(emitter("talker", WORD_SAID, WORD_WHISPERED) if not broken else
                 Feature(id="talker", name="T", emitted_events=[WORD_SAID, WORD_WHISPERED], on_mount=lambda c: 1 / 0))
    reg.register(Feature(id="listener", name="L", subscribed_events=["WORD_SAID", "WORD_WHISPERED"],
                         on_mount=lambda c: MountResult(handler=print)))
    report = await reg.mount_all()
    assert report.mounted == ["listener"]
    assert report.unheard == {"listener": ["WORD_SAID", "WORD_WHISPERED"]}
    assert reg.catalog.owner("WORD_SAID") == "talker"  # still declared: the contract is registered


async def test_replace_swaps_the_feature_specs():
    reg = FeatureRegistry()
    reg.register(emitter("talker", WORD_SAID, WORD_WHISPERED))
    reg.register(emitter("other", OTHER_THING))
    await reg.mount_all()
    await reg.replace(emitter("talker", WORD_SAID_V2))
    assert reg.catalog.get("WORD_SAID") is WORD_SAID_V2 and reg.catalog.owner("WORD_SAID") == "talker"
    assert reg.catalog.get("WORD_WHISPERED") is None  # dropped from the new contract, withdrawn
    assert reg.is_mounted("talker")
    assert reg.context("talker").emit("WORD_SAID", {"word": "hi", "lang": "en"}).priority is Priority.HIGH


async def test_replace_with_a_conflicting_contract_leaves_the_old_one_running():
    log = []
    reg = FeatureRegistry()
    old = emitter("talker", WORD_SAID, WORD_WHISPERED, log=log)
    reg.register(old)
    reg.register(emitter("other", OTHER_THING))
    await reg.mount_all()
    log.clear()
    with pytest.raises(EventSpecConflictError) as info:
        await reg.replace(emitter("talker", WORD_SAID_V2, OTHER_THING, log=log))
    assert (info.value.event_type, info.value.first, info.value.second) == ("OTHER_THING", "other", "talker")
    assert log == [] and reg.is_mounted("talker") and reg.get("talker") is old
    assert reg.catalog.get("WORD_SAID") is WORD_SAID and reg.catalog.get("WORD_WHISPERED") is WORD_WHISPERED
    assert reg.catalog.owner("OTHER_THING") == "other"
    assert reg.metrics.get("feature.talker.reloads") == 0


async def mounted_strict(*features):
    reg = FeatureRegistry(bus=EventBus(strict=True))
    for f in features:
        reg.register(f)
    await reg.mount_all()
    await reg.bus.drain()  # FEATURE_MOUNTED
    return reg


async def test_strict_mode_refuses_an_emitted_payload_that_does_not_match_its_spec():
    reg = await mounted_strict(emitter("talker", WORD_SAID))
    ctx = reg.context("talker")
    with pytest.raises(PayloadError) as info:
        ctx.emit(WORD_SAID, {"word": 3, "loud": False})
    err = info.value
    assert (err.event_type, err.field, err.expected, err.got) == ("WORD_SAID", "word", "str", 3)
    assert "WORD_SAID" in str(err) and "'word'" in str(err) and "int 3" in str(err)
    with pytest.raises(PayloadError, match="'loud' is missing"):
        ctx.emit(WORD_SAID, {"word": "hi"})
    with pytest.raises(PayloadError, match="'volume'"):
        ctx.emit(WORD_SAID, {"word": "hi", "loud": True, "volume": 11})
    with pytest.raises(InvalidEventError, match="declared LOW, dispatched HIGH"):
        ctx.emit(WORD_SAID, {"word": "hi", "loud": True}, "HIGH")
    assert reg.bus.pending == 0  # nothing refused was queued
    assert ctx.emit(WORD_SAID, {"word": "hi", "loud": True}).priority is Priority.LOW


async def test_strict_mode_turns_a_bad_payload_emitted_by_a_handler_into_feature_error():
    errors, said = [], []
    reg = FeatureRegistry(bus=EventBus(strict=True))
    reg.bus.catalog.declare("user", [EventSpec("PING_SENT", "MEDIUM", "a ping", {"n": int})])

    def on_mount(ctx):
        return MountResult(handler=lambda e: ctx.emit(WORD_SAID, {"word": e.payload["n"], "loud": False}))

    reg.register(Feature(id="talker", name="T", emitted_events=[WORD_SAID], subscribed_events=["PING_SENT"],
                         on_mount=on_mount))
    await reg.mount_all()
    reg.bus.subscribe(FEATURE_ERROR, errors.append)
    reg.bus.subscribe("WORD_SAID", said.append)
    ping = reg.bus.dispatch("PING_SENT", {"n": 7})
    await reg.bus.drain()
    assert said == []
    [err] = errors
    assert err.payload["feature"] == "talker" and err.payload["phase"] == "handler"
    assert (err.payload["event_type"], err.payload["event_id"]) == ("PING_SENT", ping.id)
    assert err.payload["error_type"] == "PayloadError"
    assert "'word'" in err.payload["error"] and "expected str, got int 7" in err.payload["error"]


async def test_strict_mode_refuses_emitting_an_undeclared_type():
    reg = await mounted_strict(emitter("talker", WORD_SAID), emitter("other", OTHER_THING))
    ctx = reg.context("talker")
    with pytest.raises(InvalidEventError, match="not in its emitted_events") as info:
        ctx.emit("WORD_SHOUTED")
    assert info.value.event_type == "WORD_SHOUTED"
    with pytest.raises(InvalidEventError, match="not in its emitted_events"):
        ctx.emit(OTHER_THING)  # declared, but by another feature
    with pytest.raises(InvalidEventError, match="has no spec"):
        reg.bus.dispatch("WORD_SHOUTED")
    assert reg.bus.pending == 0
    assert reg.metrics.get("feature.talker.undeclared_events.WORD_SHOUTED") == 0


async def test_non_strict_dispatch_takes_the_spec_priority_by_default():
    reg = FeatureRegistry()
    reg.register(emitter("talker", WORD_SAID))
    await reg.mount_all()
    ctx = reg.context("talker")
    assert ctx.emit(WORD_SAID, {"word": "hi", "loud": False}).priority is Priority.LOW
    assert ctx.emit("WORD_SAID", {"word": "hi", "loud": False}).priority is Priority.LOW
    assert reg.bus.dispatch("WORD_SAID", {"word": "hi", "loud": False}).priority is Priority.LOW
    assert reg.bus.dispatch("WORD_SHOUTED").priority is Priority.MEDIUM  # undeclared
    assert reg.bus.dispatch("WORD_SAID", {"word": 1}, "HIGH").priority is Priority.HIGH  # lenient: not checked
    assert reg.bus.dispatch("FEATURE_MOUNTED", {"feature": "x"}).priority is Priority.MEDIUM
    assert reg.bus.dispatch("APP_READY", {}).priority is Priority.HIGH


# ---------------------------------------------------------------------- machines and payload keys
PRESENCE_CHANGED = EventSpec("PRESENCE_CHANGED", "MEDIUM", "a contact's presence changed",
                             {"state": str, "data": int, "source": str})
LETTER_ARRIVED = EventSpec("LETTER_ARRIVED", "MEDIUM", "a letter arrived", {"from": str, "event": str})


class Presence(Machine):
    watching = State(initial=True)
    PRESENCE_CHANGED = watching.to(None, on="record")
    LETTER_ARRIVED = watching.to(None, on="record")

    def __init__(self, **kw):
        self.seen = []
        super().__init__(**kw)

    def record(self, bus_event, **_):
        self.seen.append((bus_event.type, bus_event.source, dict(bus_event.payload)))


async def test_payload_keys_named_like_statemachine_arguments_reach_the_machine_intact():
    roster = emitter("roster", PRESENCE_CHANGED, LETTER_ARRIVED)
    presence = Feature(id="presence", name="Presence", subscribed_events=["PRESENCE_CHANGED", "LETTER_ARRIVED"],
                       on_mount=lambda ctx: Presence())
    app = await bootstrap([roster, presence])
    assert app.bus.strict and app.report.ok and app.report.unheard == {}
    ctx = app.registry.context("roster")
    ctx.emit(PRESENCE_CHANGED, {"state": "away", "data": 1, "source": "x"})
    ctx.emit(LETTER_ARRIVED, {"from": "alice", "event": "birthday"})
    await app.settle()
    actor = app.actors["presence"]
    assert actor.machine.seen == [
        ("PRESENCE_CHANGED", "roster", {"state": "away", "data": 1, "source": "x"}),
        ("LETTER_ARRIVED", "roster", {"from": "alice", "event": "birthday"}),
    ]
    assert actor.state == ["watching"]  # the machine's own state was not touched by the payload's "state"
    # sent directly as keywords, these names would be swallowed by python-statemachine: refused
    assert {"state", "data", "source", "event"} <= RESERVED_KWARGS
    with pytest.raises(ActorError, match="'state'"):
        actor.send("PRESENCE_CHANGED", state="away")
    await app.shutdown()


ECHO_SENT = EventSpec("ECHO_SENT", "MEDIUM", "the echo machine repeated a ping", {"n": int})
PING_SENT = EventSpec("PING_SENT", "MEDIUM", "a notebook cell pinged", {"n": int | str})


class Echo(Machine):
    idle = State(initial=True)
    PING_SENT = idle.to(None, on="echo")

    def echo(self, bus_event, **_):
        self.emit(ECHO_SENT, {"n": bus_event.payload["n"]})


async def test_strict_app_reports_a_machine_emitting_a_bad_payload_as_feature_error():
    seen = []
    echo = Feature(id="echo", name="Echo", subscribed_events=["PING_SENT"], emitted_events=[ECHO_SENT],
                   on_mount=lambda ctx: Echo())
    watcher = Feature(id="watcher", name="Watcher", subscribed_events=[FEATURE_ERROR, "ECHO_SENT"],
                      on_mount=lambda ctx: MountResult(handler=seen.append))
    app = await bootstrap([echo, watcher], events=[PING_SENT])
    good = app.dispatch(PING_SENT, {"n": 3})
    bad = app.dispatch(PING_SENT, {"n": "three"})
    await app.settle()
    echoes = [e for e in seen if e.type == "ECHO_SENT"]
    errors = [e for e in seen if e.type == FEATURE_ERROR]
    assert [(e.payload["n"], e.cause) for e in echoes] == [(3, good.id)]
    [err] = errors
    assert err.payload["feature"] == "echo" and err.payload["error_type"] == "PayloadError"
    assert (err.payload["event_type"], err.payload["event_id"]) == ("PING_SENT", bad.id)
    assert "payload of ECHO_SENT: field 'n': expected int, got str 'three'" in err.payload["error"]
    assert app.actors["echo"].running  # the error is reported, the machine keeps going
    await app.shutdown()


# ---------------------------------------------------------------------- properties
@st.composite
def dags(draw):
    n = draw(st.integers(min_value=1, max_value=25))
    ids = [f"f{i}" for i in range(n)]
    deps = {}
    for i, fid in enumerate(ids):
        deps[fid] = tuple(draw(st.sets(st.sampled_from(ids[:i]), max_size=min(i, 4)))) if i else ()
    shuffled = draw(st.permutations(ids))
    return {fid: deps[fid] for fid in shuffled}


@settings(max_examples=80, deadline=None)
@given(dags())
def test_property_mount_order_respects_every_edge_and_unmount_reverses_it(deps):
    log = []
    reg = FeatureRegistry()
    for fid, ds in deps.items():
        reg.register(feature(fid, ds, log))

    async def run():
        await reg.mount_all()
        await reg.unmount_all()

    asyncio.run(run())
    mounted = [f for kind, f in log if kind == "mount"]
    unmounted = [f for kind, f in log if kind == "unmount"]
    position = {fid: i for i, fid in enumerate(mounted)}
    assert sorted(mounted) == sorted(deps)
    for fid, ds in deps.items():
        for d in ds:
            assert position[d] < position[fid]
    assert unmounted == list(reversed(mounted))


@st.composite
def cyclic_graphs(draw):
    deps = dict(draw(dags()))
    ids = sorted(deps, key=lambda s: int(s[1:]))
    # close a cycle: make an early node depend on a later node that (transitively) depends on it
    k = draw(st.integers(min_value=2, max_value=max(2, len(ids) + 1)))
    cycle = [f"c{i}" for i in range(k)]
    for i, fid in enumerate(cycle):
        deps[fid] = (cycle[(i + 1) % k],) + tuple(draw(st.sets(st.sampled_from(ids), max_size=2)))
    return deps


@settings(max_examples=80, deadline=None)
@given(cyclic_graphs())
def test_property_cycle_error_names_a_real_cycle(deps):
    with pytest.raises(DependencyCycleError) as info:
        topological_order(deps)
    cycle = info.value.cycle
    assert len(cycle) >= 3 and cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1
    for a, b in zip(cycle, cycle[1:]):
        assert b in deps[a], f"{a} -> {b} is not an edge"
