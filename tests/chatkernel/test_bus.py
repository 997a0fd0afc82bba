import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatkernel import (
    FEATURE_ERROR,
    Event,
    EventBus,
    EventSpec,
    InvalidEventError,
    PayloadError,
    Priority,
    SpecCatalog,
)

pytestmark = pytest.mark.anyio


async def test_delivers_in_strict_priority_order_then_fifo():
    bus = EventBus()
    seen = []
    bus.subscribe("ITEM_QUEUED", lambda e: seen.append((e.priority.name, e.payload["n"])))
    for n in range(3):
        for p in ("LOW", "MEDIUM", "HIGH"):
            bus.dispatch("ITEM_QUEUED", {"n": n}, p)
    await bus.drain()
    assert seen == [(p, n) for p in ("HIGH", "MEDIUM", "LOW") for n in range(3)]


async def test_delivery_happens_on_the_loop_not_inline():
    bus = EventBus()
    seen = []
    bus.subscribe("ITEM_QUEUED", seen.append)
    bus.dispatch("ITEM_QUEUED")
    assert seen == []  # dispatch never runs handlers inline
    await asyncio.sleep(0)
    assert len(seen) == 1


async def test_low_then_medium_dropped_over_limit_high_never():
    bus = EventBus(limits={"LOW": 2, "MEDIUM": 3, "HIGH": 1}, dropped_history=4)
    for _ in range(5):
        bus.dispatch("ITEM_QUEUED", None, "LOW")
        bus.dispatch("ITEM_QUEUED", None, "MEDIUM")
        bus.dispatch("ITEM_QUEUED", None, "HIGH")
    stats = bus.stats()
    assert stats.queued == {"HIGH": 5, "MEDIUM": 3, "LOW": 2}
    assert stats.dropped == {"HIGH": 0, "MEDIUM": 2, "LOW": 3}
    assert stats.high_over_limit == 4
    assert len(bus.dropped) == 4 and bus.dropped.total == 5  # bounded record
    await bus.drain()
    assert bus.stats().processed == {"HIGH": 5, "MEDIUM": 3, "LOW": 2}


async def test_handler_error_is_isolated_and_reported_as_feature_error():
    bus = EventBus()
    good, errors = [], []

    def bad(event):
        raise ValueError("boom")

    bus.subscribe("ITEM_QUEUED", bad, owner="broken")
    bus.subscribe("ITEM_QUEUED", good.append, owner="fine")
    bus.subscribe(FEATURE_ERROR, errors.append)
    sent = bus.dispatch("ITEM_QUEUED")
    await bus.drain()
    assert len(good) == 1
    [err] = errors
    assert err.priority is Priority.HIGH and err.cause == sent.id and err.source == "kernel"
    assert err.payload["feature"] == "broken" and err.payload["error"] == "boom"
    assert err.payload["event_type"] == "ITEM_QUEUED" and err.payload["event_id"] == sent.id
    assert err.payload["phase"] == "handler" and err.payload["error_type"] == "ValueError"
    assert bus.metrics.get("feature.broken.errors") == 1
    assert bus.errors.items()[0].error_type == "ValueError"


async def test_failing_feature_error_handler_does_not_loop():
    bus = EventBus()
    bus.subscribe(FEATURE_ERROR, lambda e: 1 / 0)
    bus.subscribe("ITEM_QUEUED", lambda e: 1 / 0)
    bus.dispatch("ITEM_QUEUED")
    await bus.drain()
    assert bus.stats().handler_errors == 2
    assert bus.stats().processed["HIGH"] == 1


async def test_async_handlers_run_as_tasks_and_keep_the_cause():
    bus = EventBus()
    seen = []

    async def handler(event):
        await asyncio.sleep(0)
        bus.dispatch("ITEM_DONE")

    bus.subscribe("ITEM_QUEUED", handler, owner="worker")
    bus.subscribe("ITEM_DONE", seen.append)
    first = bus.dispatch("ITEM_QUEUED")
    await bus.drain()
    [done] = seen
    assert done.cause == first.id and done.source == "worker"


async def test_async_handler_failure_becomes_feature_error():
    bus = EventBus()
    errors = []

    async def handler(event):
        raise RuntimeError("late")

    bus.subscribe("ITEM_QUEUED", handler, owner="worker")
    bus.subscribe(FEATURE_ERROR, errors.append)
    bus.dispatch("ITEM_QUEUED")
    await bus.drain()
    assert [e.payload["error"] for e in errors] == ["late"]


async def test_source_and_cause_stamped_for_events_dispatched_by_handlers():
    bus = EventBus()
    replies = []
    bus.subscribe("PING_SENT", lambda e: bus.dispatch("PONG_SENT"), owner="ponger")
    bus.subscribe("PONG_SENT", replies.append)
    ping = bus.dispatch("PING_SENT", source="pinger")
    await bus.drain()
    assert ping.source == "pinger" and ping.cause is None
    assert replies[0].source == "ponger" and replies[0].cause == ping.id


async def test_events_are_immutable_and_payload_is_copied():
    bus = EventBus()
    payload = {"text": "hi"}
    event = bus.dispatch("MESSAGE_SENT", payload)
    payload["text"] = "changed"
    assert event.payload["text"] == "hi"
    with pytest.raises(TypeError):
        event.payload["text"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        event.type = "OTHER_THING"  # type: ignore[misc]
    assert event.as_dict()["priority"] == "MEDIUM"


@pytest.mark.parametrize("bad", ["send-message", "MessageSent", "msg_sent", "SENT", "", 3, "A__B", "_A_B"])
async def test_event_type_must_be_entity_action(bad):
    bus = EventBus()
    with pytest.raises(InvalidEventError) as info:
        bus.dispatch(bad)
    assert info.value.event_type == bad
    with pytest.raises(InvalidEventError):
        bus.subscribe(bad, print)


async def test_bad_priority_and_payload_are_refused():
    bus = EventBus()
    with pytest.raises(InvalidEventError, match="priority"):
        bus.dispatch("ITEM_QUEUED", None, "URGENT")
    with pytest.raises(InvalidEventError, match="mapping"):
        bus.dispatch("ITEM_QUEUED", ["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EventBus(limits={"LOW": 0})
    with pytest.raises(TypeError):
        bus.subscribe("ITEM_QUEUED", "not callable")  # type: ignore[arg-type]


async def test_unsubscribe_and_unsubscribe_owner():
    bus = EventBus()
    seen = []
    sub = bus.subscribe("ITEM_QUEUED", seen.append)
    bus.subscribe("ITEM_QUEUED", seen.append, owner="f")
    bus.subscribe("ITEM_DONE", seen.append, owner="f")
    assert sub.active
    sub.cancel()
    assert not sub.active and not bus.unsubscribe(sub)
    assert bus.unsubscribe_owner("f") == 2
    bus.dispatch("ITEM_QUEUED")
    await bus.drain()
    assert seen == [] and bus.subscriptions() == []


async def test_tap_sees_dispatched_delivered_and_dropped_and_survives_errors():
    bus = EventBus(limits={"LOW": 1})
    outcomes = []
    remove = bus.tap(lambda e, outcome: outcomes.append((e.id, outcome)))
    bus.tap(lambda e, outcome: 1 / 0)
    a = bus.dispatch("ITEM_QUEUED", None, "LOW")
    b = bus.dispatch("ITEM_QUEUED", None, "LOW")
    await bus.drain()
    assert outcomes == [(a.id, "dispatched"), (b.id, "dropped"), (a.id, "delivered")]
    remove()
    bus.dispatch("ITEM_QUEUED")
    await bus.drain()
    assert len(outcomes) == 3


async def test_batches_yield_to_other_tasks():
    bus = EventBus(batch_size=10, limits={"LOW": 1000})
    order = []
    bus.subscribe("ITEM_QUEUED", lambda e: order.append("event"))
    for _ in range(100):
        bus.dispatch("ITEM_QUEUED", None, "LOW")

    async def other():
        order.append("other")

    task = asyncio.create_task(other())
    await bus.drain()
    await task
    assert "other" in order and order.index("other") < 100


async def test_dispatch_threadsafe_hands_over_to_the_loop():
    bus = EventBus()
    seen = []
    bus.subscribe("ITEM_QUEUED", lambda e: seen.append(e.payload["n"]))
    bus.dispatch("ITEM_QUEUED", {"n": 0})  # binds the loop
    await bus.drain()
    await asyncio.to_thread(bus.dispatch_threadsafe, "ITEM_QUEUED", {"n": 1})
    await asyncio.sleep(0.01)
    await bus.drain()
    assert seen == [0, 1]


def test_dispatch_without_loop_waits_for_drain():
    bus = EventBus()
    seen = []
    bus.subscribe("ITEM_QUEUED", seen.append)
    bus.dispatch("ITEM_QUEUED")
    assert seen == [] and bus.pending == 1
    asyncio.run(bus.drain())
    assert len(seen) == 1


def test_stats_render_as_text_and_html():
    bus = EventBus()
    text = str(bus.stats())
    assert "HIGH" in text and "limit" in text
    assert "<table" in bus.stats()._repr_html_()


async def test_failure_outside_an_event_has_no_event_type_or_id():
    bus = EventBus(strict=True)  # the kernel's own FEATURE_ERROR payload must pass its spec
    errors = []
    bus.subscribe(FEATURE_ERROR, errors.append)
    bus.report_failure("worker", None, RuntimeError("lost"))
    await bus.drain()
    [err] = errors
    assert err.payload["event_type"] is None and err.payload["event_id"] is None
    assert err.payload["feature"] == "worker" and err.payload["error"] == "lost"
    failure = bus.errors.items()[0]
    assert failure.event_type is None and failure.event_id is None


ITEM_QUEUED = EventSpec("ITEM_QUEUED", "LOW", "an item joined the queue", {"n": int})


def strict_bus():
    catalog = SpecCatalog()
    catalog.declare("test", [ITEM_QUEUED])
    return EventBus(strict=True, catalog=catalog)


async def test_a_bare_bus_is_lenient_and_takes_spec_priorities():
    bus = EventBus()
    assert not bus.strict
    bus.catalog.declare("test", [ITEM_QUEUED])
    assert bus.dispatch("ITEM_QUEUED", {"n": 1}).priority is Priority.LOW
    assert bus.dispatch("ITEM_QUEUED", {"n": "not checked"}, "HIGH").priority is Priority.HIGH
    assert bus.dispatch("ITEM_DONE").priority is Priority.MEDIUM  # undeclared
    assert bus.dispatch(FEATURE_ERROR, {}).priority is Priority.HIGH  # the kernel's spec


async def test_strict_bus_checks_type_priority_and_payload():
    bus = strict_bus()
    seen = []
    bus.subscribe("ITEM_QUEUED", seen.append)
    with pytest.raises(InvalidEventError, match="ITEM_DONE has no spec") as info:
        bus.dispatch("ITEM_DONE")
    assert info.value.event_type == "ITEM_DONE" and not isinstance(info.value, PayloadError)
    with pytest.raises(InvalidEventError, match="declared LOW, dispatched HIGH"):
        bus.dispatch("ITEM_QUEUED", {"n": 1}, Priority.HIGH)
    with pytest.raises(PayloadError) as bad:
        bus.dispatch("ITEM_QUEUED", {"n": True})
    assert (bad.value.field, bad.value.expected, bad.value.got) == ("n", "int", True)
    with pytest.raises(PayloadError) as missing:
        bus.dispatch("ITEM_QUEUED")
    assert missing.value.missing and missing.value.field == "n"
    assert bus.pending == 0 and bus.stats().dropped == {"HIGH": 0, "MEDIUM": 0, "LOW": 0}
    bus.dispatch("ITEM_QUEUED", {"n": 1})
    bus.dispatch("ITEM_QUEUED", {"n": 2}, "low")
    await bus.drain()
    assert [e.payload["n"] for e in seen] == [1, 2] and seen[0].priority is Priority.LOW


async def test_strict_bus_reports_handler_failures_with_a_valid_feature_error():
    bus = strict_bus()
    errors = []
    bus.subscribe("ITEM_QUEUED", lambda e: 1 / 0)  # no owner: feature None
    bus.subscribe(FEATURE_ERROR, errors.append)
    sent = bus.dispatch("ITEM_QUEUED", {"n": 1})
    await bus.drain()
    [err] = errors
    assert err.payload["feature"] is None and err.payload["event_id"] == sent.id
    assert err.payload["error_type"] == "ZeroDivisionError"


async def test_busy_while_events_are_queued_or_async_handlers_run():
    bus = EventBus()
    release = asyncio.Event()

    async def slow(event):
        await release.wait()

    bus.subscribe("ITEM_QUEUED", slow)
    assert not bus.busy
    bus.dispatch("ITEM_QUEUED")
    assert bus.busy and bus.pending == 1
    await asyncio.sleep(0)  # the batch runs: delivered, the handler became a task
    assert bus.pending == 0 and bus.busy  # the handler's task is still running
    release.set()
    await bus.drain()
    assert not bus.busy


events = st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(events, st.integers(min_value=1, max_value=50))
def test_property_priority_order_and_high_never_dropped(priorities, limit):
    async def run():
        bus = EventBus(limits={"LOW": limit, "MEDIUM": limit, "HIGH": 1})
        seen: list[Event] = []
        bus.subscribe("ITEM_QUEUED", seen.append)
        sent = [bus.dispatch("ITEM_QUEUED", None, p) for p in priorities]
        await bus.drain()
        return bus, sent, seen

    bus, sent, seen = asyncio.run(run())
    dropped_ids = {e.id for e in bus.dropped}
    delivered_ids = [e.id for e in seen]
    # every HIGH is delivered, none dropped
    assert all(e.id in delivered_ids for e in sent if e.priority is Priority.HIGH)
    assert bus.stats().dropped["HIGH"] == 0
    # delivery is sorted by priority, FIFO within a priority
    assert [(e.priority, e.id) for e in seen] == sorted((e.priority, e.id) for e in seen)
    # nothing is lost: every event was delivered or is in the dropped record
    assert len(seen) + bus.stats().total_dropped == len(sent)
    assert dropped_ids.isdisjoint(delivered_ids)


@pytest.mark.parametrize("bad", [["X_Y"], {"X": 1}, None, 3, "lower_case"])
@pytest.mark.parametrize("priority", [None, "LOW"])
def test_a_dispatch_with_something_that_is_not_a_type_name_is_refused_clearly(bad, priority):
    bus = EventBus()
    with pytest.raises(InvalidEventError, match="event type"):
        bus.dispatch(bad, None, priority)
    assert bus.pending == 0
