import json

import pytest
from statemachine import State

from chatkernel import (
    APP_READY,
    FEATURE_ERROR,
    AppMachine,
    BootError,
    Feature,
    Machine,
    MountResult,
    bootstrap,
)

pytestmark = pytest.mark.anyio


class Counter(Machine):
    idle = State(initial=True)
    counting = State()
    snapshot_fields = ("count",)
    PING_SENT = idle.to(counting, on="inc") | counting.to(None, on="inc")

    def __init__(self, **kw):
        self.count = 0
        super().__init__(**kw)

    def inc(self, n=1, **_):
        self.count += n
        self.actor.emit("COUNT_CHANGED", {"count": self.count})


async def mount_counter(ctx):
    return MountResult(actor=await ctx.spawn(Counter()))


def counter_feature(**kw):
    return Feature(id="counter", name="Counter", on_mount=mount_counter, subscribed_events=["PING_SENT"],
                   emitted_events=["COUNT_CHANGED"], **kw)


async def test_bootstrap_reaches_ready_and_dispatches_app_ready_high():
    seen = []
    pinger = Feature(id="pinger", name="Pinger", subscribed_events=[APP_READY],
                     on_mount=lambda ctx: MountResult(handler=seen.append))
    app = await bootstrap([pinger, counter_feature(dependencies=["pinger"])])
    await app.settle()
    assert app.state == ["ready"] and app.ready and not app.degraded
    assert app.startup_type == "cold"
    assert [e.type for e in seen] == [APP_READY] and seen[0].priority.name == "HIGH"
    assert seen[0].payload["mounted"] == ["pinger", "counter"]
    app.dispatch("PING_SENT", {"n": 2})
    await app.settle()
    assert app.actors["counter"].machine.count == 2
    assert app.metrics.get("feature.counter.events.PING_SENT") == 1
    await app.shutdown()
    assert app.state == ["terminated"] and len(app.actors) == 0
    assert not app.registry.is_mounted("counter")


async def test_failed_feature_leaves_app_ready_but_degraded():
    errors = []
    watcher = Feature(id="watcher", name="Watcher", subscribed_events=[FEATURE_ERROR],
                      on_mount=lambda ctx: MountResult(handler=errors.append))
    broken = Feature(id="broken", name="Broken", on_mount=lambda ctx: 1 / 0)
    needs = Feature(id="needs-broken", name="Needs", dependencies=["broken"], on_mount=lambda ctx: None)
    app = await bootstrap([watcher, broken, needs])
    await app.settle()
    assert app.ready and app.degraded
    assert app.report.failed == {"broken": "on_mount raised ZeroDivisionError: division by zero"}
    assert app.report.skipped == {"needs-broken": "depends on 'broken', which failed to mount"}
    assert [(e.payload["feature"], e.payload["phase"]) for e in errors] == [("broken", "mount")]
    assert "failed  broken" in repr(app)
    await app.shutdown()


async def test_cycle_puts_app_in_error_and_bootstrap_raises():
    a = Feature(id="a", name="A", dependencies=["b"], on_mount=lambda ctx: None)
    b = Feature(id="b", name="B", dependencies=["a"], on_mount=lambda ctx: None)
    with pytest.raises(BootError, match="dependency cycle: a -> b -> a"):
        await bootstrap([a, b])


async def test_startup_types(tmp_path):
    assert (await bootstrap([], startup="offline")).startup_type == "offline"
    assert (await bootstrap([], offline=True)).startup_type == "offline"
    assert (await bootstrap([], state_dir=tmp_path)).startup_type == "cold"
    (tmp_path / "settings.json").write_text("{}")
    assert (await bootstrap([], state_dir=tmp_path)).startup_type == "warm"
    with pytest.raises(BootError, match="startup must be one of"):
        await bootstrap([], startup="lukewarm")


async def test_rehydrate_restores_saved_snapshots(tmp_path):
    app = await bootstrap([counter_feature()], state_dir=tmp_path)
    app.dispatch("PING_SENT", {"n": 5})
    await app.settle()
    await app.shutdown()
    saved = json.loads((tmp_path / "snapshots.json").read_text())
    assert saved["counter"]["context"] == {"count": 5}

    app2 = await bootstrap([], state_dir=tmp_path)
    assert app2.startup_type == "rehydrate" and app2.saved_snapshots["counter"]["configuration"] == ["counting"]
    actor = await app2.actors.restore(app2.saved_snapshots["counter"], Counter, feature="counter")
    assert actor.machine.count == 5 and actor.state == ["counting"]
    await app2.shutdown()


async def test_settings_file_sets_flags_and_feature_settings(tmp_path):
    seen = {}

    def mount(ctx):
        seen.update(ctx.settings)

    (tmp_path / "settings.json").write_text(json.dumps({
        "flags": {"voice": False},
        "features": {"cfg": {"theme": "dark"}},
    }))
    cfg = Feature(id="cfg", name="Cfg", on_mount=mount, settings={"theme": "light", "size": 3})
    voice = Feature(id="voice", name="Voice", on_mount=lambda ctx: None)
    app = await bootstrap([cfg, voice], state_dir=tmp_path)
    assert seen == {"theme": "dark", "size": 3}
    assert app.report.disabled == ["voice"]
    await app.shutdown()


async def test_unreadable_settings_is_a_boot_error(tmp_path):
    (tmp_path / "settings.json").write_text("{not json")
    with pytest.raises(BootError, match="settings.json is not readable JSON"):
        await bootstrap([], state_dir=tmp_path)


async def test_error_critical_and_shutdown_from_error():
    app = await bootstrap([])
    app.actor.send("ERROR_CRITICAL", reason="disk on fire")
    await app.settle()
    assert app.state == ["error"] and app.machine.last_error == "disk on fire"
    await app.shutdown()
    assert len(app.actors) == 0


def test_app_machine_has_the_seed_states():
    ids = set(AppMachine.states_map)
    assert {"booting", "detecting", "loading_settings", "mounting", "ready", "shutting_down",
            "terminated", "error"} <= ids
    assert "booting" in f"{AppMachine:mermaid}"


async def test_hot_reloaded_feature_hears_app_ready_again(tmp_path):
    heard = []

    def listener(tag):
        return Feature(id="late", name="Late", subscribed_events=[APP_READY],
                       on_mount=lambda ctx: MountResult(handler=lambda e: heard.append((tag, e.type))))

    app = await bootstrap([listener("v1")], state_dir=tmp_path)
    await app.settle()
    await app.registry.replace(listener("v2"))
    await app.settle()
    assert heard == [("v1", APP_READY), ("v2", APP_READY)]
    assert app.registry.context("late").state_dir == tmp_path / "late"
    await app.shutdown()


async def test_settle_waits_for_invoked_work():
    import asyncio

    class Slow(Machine):
        idle = State(initial=True)
        working = State()
        busy_states = frozenset({"working"})
        WORK_REQUESTED = idle.to(working)
        done_invoke_working = working.to(idle, on="finish")

        def __init__(self, **kw):
            self.done = 0
            super().__init__(**kw)

        async def on_invoke_working(self, **_):
            await asyncio.sleep(0.05)

        def finish(self, **_):
            self.done += 1

    async def mount(ctx):
        return MountResult(actor=await ctx.spawn(Slow()))

    app = await bootstrap([Feature(id="slow", name="Slow", on_mount=mount, subscribed_events=["WORK_REQUESTED"])])
    app.dispatch("WORK_REQUESTED")
    await app.settle()
    assert app.actors["slow"].machine.done == 1 and app.actors["slow"].state == ["idle"]
    await app.shutdown()
