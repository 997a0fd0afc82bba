"""Runtime pieces: rate limiting, ring buffers, metrics, budgets, logging."""

import logging

import pytest

from chatkernel import Metrics, PerformanceBudget, RingBuffer, TokenBucket, configure_logging, feature_metric


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_token_bucket_bursts_then_refills_at_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, capacity=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.try_acquire() and not bucket.try_acquire()
    clock.now += 100
    assert bucket.tokens == 3  # never above capacity


def test_token_bucket_validates():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=0.5)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=2).try_acquire(3)


def test_ring_buffer_is_bounded_and_counts_evictions():
    ring = RingBuffer(3)
    for i in range(5):
        ring.append(i)
    assert ring.items() == [2, 3, 4] and len(ring) == 3
    assert ring.total == 5 and ring.evicted == 2 and ring.capacity == 3
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_metrics_use_seed_names():
    m = Metrics()
    m.increment(feature_metric("chat", "events", "MESSAGE_SENT"))
    m.increment(feature_metric("chat", "errors"), by=2)
    m.gauge(feature_metric("chat", "active_actors"), 3)
    m.timing(feature_metric("chat", "operation", "send"), 1.5)
    m.timing(feature_metric("chat", "operation", "send"), 0.5)
    view = m.matching("feature.chat.")
    assert view["feature.chat.events.MESSAGE_SENT"] == 1 and view["feature.chat.errors"] == 2
    assert view["feature.chat.active_actors"] == 3
    assert view["feature.chat.operation.send"]["count"] == 2
    assert view["feature.chat.operation.send"]["mean_ms"] == 1.0
    assert m.get("missing", 7) == 7


def test_budget_records_violations_without_raising(caplog):
    metrics = Metrics()
    budget = PerformanceBudget({"handler": 5}, metrics=metrics, history=2)
    assert budget.check("chat", "handler", 4.0)
    with caplog.at_level(logging.WARNING, logger="chatkernel.budget"):
        assert not budget.check("chat", "handler", 6.0)
    assert "chat handler took 6.0 ms" in caplog.text
    assert metrics.get("feature.chat.budget_exceeded.handler") == 1
    assert budget.violations.items()[0].elapsed_ms == 6.0
    with pytest.raises(ValueError):
        PerformanceBudget({"handler": 0})


async def _slow_handler_bus():
    import time

    from chatkernel import EventBus

    budget = PerformanceBudget({"handler": 1})
    bus = EventBus(budget=budget)
    bus.subscribe("SLOW_THING", lambda e: time.sleep(0.005), owner="sloth")
    bus.dispatch("SLOW_THING")
    await bus.drain()
    return budget


def test_bus_reports_handlers_over_budget():
    import asyncio

    budget = asyncio.run(_slow_handler_bus())
    assert [v.owner for v in budget.violations] == ["sloth"]


def test_configure_logging_is_idempotent():
    logger = configure_logging("DEBUG")  # the logger is restored after each test (tests/conftest.py)
    configure_logging("INFO")
    ours = [h for h in logger.handlers if getattr(h, "_chatkernel", False)]
    assert len(ours) == 1 and logger.level == logging.INFO
    with pytest.raises(ValueError):
        configure_logging("LOUD")


@pytest.mark.parametrize("value, strict", [("1", True), ("true", True), (" ON ", True), ("0", False), ("", False),
                                           ("no", False)])
def test_strict_default_reads_the_environment(monkeypatch, value, strict):
    from chatkernel import STRICT_ENV, strict_default

    monkeypatch.setenv(STRICT_ENV, value)
    assert strict_default() is strict


def test_bootstrap_strictness_follows_the_environment_unless_given(monkeypatch):
    import asyncio

    from chatkernel import STRICT_ENV, bootstrap

    async def strictness(**kw):
        app = await bootstrap([], **kw)
        try:
            return app.bus.strict
        finally:
            await app.shutdown()

    monkeypatch.setenv(STRICT_ENV, "1")
    assert asyncio.run(strictness()) is True
    assert asyncio.run(strictness(strict=False)) is False
    monkeypatch.delenv(STRICT_ENV)
    assert asyncio.run(strictness()) is False
    assert asyncio.run(strictness(strict=True)) is True
