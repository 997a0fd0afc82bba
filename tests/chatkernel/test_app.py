"""The app: boot to ready, degrade on failures, shut down, rehydrate from saved snapshots."""

import asyncio
import json

import pytest
from statemachine import State

from chatkernel import (
    APP_READY,
    FEATURE_ERROR,
    AppMachine,
    BootError,
    EventSpec,
    Feature,
    InvalidEventError,
    KernelConfig,
    Machine,
    MountResult,
    bootstrap,
    save_kernel_config,
)

pytestmark = pytest.mark.anyio

PING_SENT = EventSpec("PING_SENT", "MEDIUM", "the user pinged the counter", {"n": int})
COUNT_CHANGED = EventSpec("COUNT_CHANGED", "LOW", "the counter's count changed", {"count": int})
WORK_REQUESTED = EventSpec("WORK_REQUESTED", "MEDIUM", "the user asked for slow work")


class Counter(Machine):
    idle = State(initial=True)
    counting = State()
    snapshot_fields = ("count",)
    PING_SENT = idle.to(counting, on="inc") | counting.to(None, on="inc")
    RESUMED = idle.to(None, on="resumed") | counting.to(None, on="resumed")

    def __init__(self, **kw):
        self.count = 0
        self.resumes = 0  # not in snapshot_fields: never saved
        super().__init__(**kw)

    def inc(self, bus_event, **_):
        self.count += bus_event.payload["n"]
        self.emit(COUNT_CHANGED, {"count": self.count})

    def resumed(self, **_):
        self.resumes += 1


async def mount_counter(ctx):
    return MountResult(actor=await ctx.spawn(Counter()))


def counter_feature(on_mount=mount_counter, **kw):
    return Feature(id="counter", name="Counter", on_mount=on_mount, subscribed_events=["PING_SENT"],
                   emitted_events=[COUNT_CHANGED], **kw)


async def test_bootstrap_reaches_ready_and_dispatches_app_ready_high():
    seen, counts = [], []
    pinger = Feature(id="pinger", name="Pinger", subscribed_events=[APP_READY],
                     on_mount=lambda ctx: MountResult(handler=seen.append))
    app = await bootstrap([pinger, counter_feature(dependencies=["pinger"])], events=[PING_SENT])
    app.bus.subscribe("COUNT_CHANGED", counts.append)
    await app.settle()
    assert app.state == ["ready"] and app.ready and not app.degraded
    assert app.startup_type == "cold" and app.config is None
    assert [e.type for e in seen] == [APP_READY] and seen[0].priority.name == "HIGH"
    assert seen[0].payload == {"startup_type": "cold", "degraded": False, "mounted": ["pinger", "counter"]}
    assert app.report.unheard == {}
    ping = app.dispatch(PING_SENT, {"n": 2})
    assert ping.source == "user" and ping.priority.name == "MEDIUM"
    await app.settle()
    assert app.actors["counter"].machine.count == 2
    assert app.metrics.get("feature.counter.events.PING_SENT") == 1
    [changed] = counts
    assert (changed.source, changed.priority.name, dict(changed.payload)) == ("counter", "LOW", {"count": 2})
    assert changed.cause == ping.id
    await app.shutdown()
    assert app.state == ["terminated"] and len(app.actors) == 0
    assert not app.registry.is_mounted("counter")


async def test_strict_app_refuses_undeclared_dispatch_until_declared():
    app = await bootstrap([counter_feature()])
    with pytest.raises(InvalidEventError, match="PING_SENT has no spec"):
        app.dispatch("PING_SENT", {"n": 1})
    app.declare(PING_SENT)
    assert app.registry.catalog.owner("PING_SENT") == "user"
    app.dispatch("PING_SENT", {"n": 1})
    await app.settle()
    assert app.actors["counter"].machine.count == 1
    await app.shutdown()


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
    assert errors[0].payload["event_type"] is None and errors[0].payload["event_id"] is None
    assert "failed  broken" in repr(app)
    await app.shutdown()


async def test_cycle_puts_app_in_error_and_bootstrap_raises():
    a = Feature(id="a", name="A", dependencies=["b"], on_mount=lambda ctx: None)
    b = Feature(id="b", name="B", dependencies=["a"], on_mount=lambda ctx: None)
    with pytest.raises(BootError, match="dependency cycle: a -> b -> a"):
        await bootstrap([a, b])


async def test_registration_errors_are_boot_errors_with_their_cause():
    first = Feature(id="first", name="First", on_mount=lambda ctx: None, emitted_events=[COUNT_CHANGED])
    second = Feature(id="second", name="Second", on_mount=lambda ctx: None, emitted_events=[COUNT_CHANGED])
    with pytest.raises(BootError, match="COUNT_CHANGED") as info:
        await bootstrap([first, second])
    assert type(info.value.__cause__).__name__ == "EventSpecConflictError"
    with pytest.raises(BootError, match="first") as info:
        await bootstrap([first, first])
    assert type(info.value.__cause__).__name__ == "DuplicateFeatureError"


async def _boot_type(**kw):
    app = await bootstrap([], **kw)
    try:
        return app.startup_type
    finally:
        await app.shutdown()


async def test_startup_types(tmp_path):
    assert await _boot_type(startup="offline") == "offline"
    assert await _boot_type(offline=True) == "offline"
    assert await _boot_type(state_dir=tmp_path) == "cold"
    (tmp_path / "settings.json").write_text("{}")  # the kernel no longer reads it
    assert await _boot_type(state_dir=tmp_path) == "cold"
    save_kernel_config(tmp_path, KernelConfig())
    assert await _boot_type(state_dir=tmp_path) == "warm"
    assert await _boot_type(state_dir=tmp_path, startup="cold") == "cold"
    with pytest.raises(BootError, match="startup must be one of"):
        await bootstrap([], startup="lukewarm")


# ---------------------------------------------------------------------- rehydrate
def resuming_counter(seen):
    async def mount(ctx):
        seen["snapshot"] = ctx.saved_snapshot
        seen["snapshots"] = dict(ctx.saved_snapshots)
        return MountResult(actor=await ctx.resume(Counter, resume_event="RESUMED"))
    return counter_feature(on_mount=mount)


async def test_rehydrate_hands_each_feature_its_snapshot_and_resumes(tmp_path):
    seen = {}
    app = await bootstrap([resuming_counter(seen)], state_dir=tmp_path, events=[PING_SENT])
    assert app.startup_type == "cold" and seen == {"snapshot": None, "snapshots": {}}
    assert app.actors["counter"].machine.resumes == 0  # started fresh: no resume event
    app.dispatch(PING_SENT, {"n": 5})
    await app.settle()
    await app.shutdown()
    saved = json.loads((tmp_path / "snapshots.json").read_text())
    assert saved["counter"]["feature"] == "counter"
    assert saved["counter"]["configuration"] == ["counting"] and saved["counter"]["context"] == {"count": 5}

    other_seen = {}

    def other_mount(ctx):
        other_seen["snapshots"] = dict(ctx.saved_snapshots)

    other = Feature(id="other", name="Other", on_mount=other_mount)
    seen.clear()
    app2 = await bootstrap([resuming_counter(seen), other], state_dir=tmp_path, events=[PING_SENT])
    await app2.settle()
    assert app2.startup_type == "rehydrate"
    assert seen["snapshot"] == saved["counter"] and seen["snapshots"] == {"counter": saved["counter"]}
    assert other_seen == {"snapshots": {}}
    machine = app2.actors["counter"].machine
    assert app2.actors["counter"].state == ["counting"] and machine.count == 5
    assert machine.resumes == 1  # the resume event ran
    app2.dispatch(PING_SENT, {"n": 1})
    await app2.settle()
    assert machine.count == 6
    await app2.shutdown()
    assert json.loads((tmp_path / "snapshots.json").read_text())["counter"]["context"] == {"count": 6}


async def test_shutdown_with_nothing_to_snapshot_removes_the_snapshots(tmp_path):
    seen = {}
    app = await bootstrap([resuming_counter(seen)], state_dir=tmp_path)
    await app.shutdown()
    assert (tmp_path / "snapshots.json").exists()
    app2 = await bootstrap([], state_dir=tmp_path)  # no feature with snapshot_fields this time
    assert app2.startup_type == "rehydrate"
    await app2.shutdown()
    assert not (tmp_path / "snapshots.json").exists()
    seen.clear()
    app3 = await bootstrap([resuming_counter(seen)], state_dir=tmp_path)
    assert app3.startup_type == "cold" and seen["snapshot"] is None
    await app3.shutdown()


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
    """No clock: the invoked work yields to the loop many times; settle must wait it out
    because the state is a busy state (without ``busy_states`` it would return at once)."""

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
            for _ in range(200):
                await asyncio.sleep(0)

        def finish(self, **_):
            self.done += 1

    async def mount(ctx):
        return MountResult(actor=await ctx.spawn(Slow()))

    app = await bootstrap([Feature(id="slow", name="Slow", on_mount=mount, subscribed_events=["WORK_REQUESTED"])],
                          events=[WORK_REQUESTED])
    app.dispatch(WORK_REQUESTED)
    await app.settle()
    assert app.actors["slow"].machine.done == 1 and app.actors["slow"].state == ["idle"]
    await app.shutdown()
