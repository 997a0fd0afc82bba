"""Keyed token buckets: per-key limits in a table that cannot grow without bound."""

from __future__ import annotations

from chatkernel.relay._limiter import KeyedLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    clock = Clock()
    limiter = KeyedLimiter(2, 3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    retry = limiter.check("a")
    assert retry is not None and 0 < retry <= 0.5
    assert limiter.check("b") is None  # keys are independent
    clock.now += 0.5
    assert limiter.check("a") is None


def test_table_is_bounded_and_evicts_the_least_recent() -> None:
    clock = Clock()
    limiter = KeyedLimiter(1, 1, max_keys=3, clock=clock)
    for key in "abcd":
        limiter.check(key)
    assert len(limiter) == 3
    assert limiter.check("b") is not None  # still tracked: refused
    assert limiter.check("a") is None  # evicted: starts over
    for i in range(10_000):
        limiter.check(f"flood-{i}")
    assert len(limiter) == 3
