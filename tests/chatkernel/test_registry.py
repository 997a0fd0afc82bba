import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatkernel import (
    FEATURE_ERROR,
    DependencyCycleError,
    DuplicateFeatureError,
    Feature,
    FeatureContractError,
    FeatureRegistry,
    MissingDependencyError,
    MountResult,
    UnknownFeatureError,
    topological_order,
)

pytestmark = pytest.mark.anyio


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
    reg.register(feature("user", ("broken",)))
    reg.register(feature("indirect", ("user",)))
    reg.register(feature("fine", ("base",)))
    report = await reg.mount_all()
    await reg.bus.drain()
    assert report.mounted == ["base", "fine"]
    assert report.failed == {"broken": "on_mount raised RuntimeError: broken is broken"}
    assert report.skipped == {"user": "depends on 'broken', which failed to mount",
                              "indirect": "depends on 'user', which was skipped"}
    assert report.degraded
    assert [(e.payload["feature"], e.payload["phase"]) for e in errors] == [("broken", "mount")]
    assert reg.metrics.get("feature.broken.errors") == 1
    assert reg.status("broken") == "failed" and reg.status("user") == "skipped"


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
    reg.register(Feature(id="talker", name="T", emitted_events=["WORD_SAID"], on_mount=lambda c: None))
    await reg.mount_all()
    reg.bus.subscribe("WORD_SAID", got.append)
    reg.bus.subscribe("WORD_SHOUTED", got.append)
    ctx = reg.context("talker")
    ctx.emit("WORD_SAID")
    ctx.emit("WORD_SHOUTED")
    await reg.bus.drain()
    assert [(e.type, e.source) for e in got] == [("WORD_SAID", "talker"), ("WORD_SHOUTED", "talker")]
    assert reg.metrics.get("feature.talker.undeclared_events.WORD_SHOUTED") == 1
    assert reg.metrics.get("feature.talker.undeclared_events.WORD_SAID") == 0


async def test_dependency_access_only_for_declared_dependencies():
    seen = {}

    def mount_chat(ctx):
        seen["crypto"] = ctx.dependency("crypto").service
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
    reg.register(feature("user", ("base",), log=log))
    reg.register(feature("other", log=log))
    await reg.mount_all()
    log.clear()
    new = Feature(id="base", name="Base v2", version="2.0.0", on_mount=lambda c: MountResult(service="v2"))
    report = await reg.replace(new)
    assert report.mounted == ["base", "user"]
    assert log == [("unmount", "user"), ("unmount", "base"), ("mount", "user")]
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
