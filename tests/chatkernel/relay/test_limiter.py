"""Rate limiters: keyed token buckets in a bounded table, the GCRA step shared stores run,
and the seam that gives the service its limiters from the store."""

from __future__ import annotations

import pytest

from chatkernel.relay import MemoryStore, RedisStore, SQLiteStore
from chatkernel.relay._limiter import KeyedLimiter, SharedLimiter, gcra


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    clock = Clock()
    limiter = KeyedLimiter(2, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    retry = limiter.take("a")
    assert retry is not None and 0 < retry <= 0.5
    assert limiter.take("b") is None  # keys are independent
    clock.now += 0.5
    assert limiter.take("a") is None


def test_table_is_bounded_and_evicts_the_least_recent() -> None:
    clock = Clock()
    limiter = KeyedLimiter(1, 1, max_keys=3, clock=clock)
    for key in "abcd":
        limiter.take(key)
    assert len(limiter) == 3
    assert limiter.take("b") is not None  # still tracked: refused
    assert limiter.take("a") is None  # evicted: starts over
    for i in range(10_000):
        limiter.take(f"flood-{i}")
    assert len(limiter) == 3


@pytest.mark.anyio
async def test_keyed_limiter_check_is_the_async_take() -> None:
    clock = Clock()
    limiter = KeyedLimiter(1, 2, clock=clock)
    assert [await limiter.check("a") for _ in range(2)] == [None, None]
    assert await limiter.check("a") == pytest.approx(1.0)


# GCRA, in whole microseconds ---------------------------------------------------------------
def _run(requests: int, *, interval: int, tolerance: int, now: int = 10**15, stored: int | None = None
         ) -> tuple[list[int], int | None]:
    waits = []
    for _ in range(requests):
        tat, wait = gcra(stored, now, interval, tolerance)
        if tat is not None:
            stored = tat
        waits.append(wait)
    return waits, stored


def test_gcra_allows_a_burst_then_one_per_interval() -> None:
    waits, tat = _run(4, interval=100, tolerance=300)  # rate 10 000/s, burst 3
    assert waits == [0, 0, 0, 100]  # the fourth waits exactly one interval
    assert tat == 10**15 + 300
    assert gcra(tat, 10**15 + 99, 100, 300)[1] == 1  # refill is continuous
    assert gcra(tat, 10**15 + 100, 100, 300) == (10**15 + 400, 0)


def test_gcra_refused_requests_are_not_charged() -> None:
    _, tat = _run(3, interval=100, tolerance=300)
    for _ in range(10):
        assert gcra(tat, 10**15, 100, 300) == (None, 100)  # nothing to write, same wait


def test_gcra_after_a_quiet_spell_starts_over_with_a_full_burst() -> None:
    _, tat = _run(3, interval=100, tolerance=300)
    assert tat is not None
    waits, _ = _run(4, interval=100, tolerance=300, now=tat + 5_000, stored=tat)
    assert waits == [0, 0, 0, 100]


def test_gcra_a_clock_stepped_back_costs_at_most_one_interval() -> None:
    _, tat = _run(3, interval=100, tolerance=300)
    stepped = 10**15 - 3_600_000_000  # an hour back
    tat, wait = gcra(tat, stepped, 100, 300)
    assert (tat, wait) == (stepped + 300, 100)  # pulled back to one full burst, and stored
    assert gcra(tat, stepped + 100, 100, 300)[1] == 0


@pytest.mark.parametrize(("rate", "burst", "interval", "tolerance"), [
    (20, 60, 50_000, 3_000_000), (100, 300, 10_000, 3_000_000), (3, 1, 333_333, 333_333),
    (1e9, 1e7, 1, 10_000_000), (0.01, 2.5, 100_000_000, 250_000_000),
])
def test_shared_limiter_rounds_to_whole_microseconds(rate: float, burst: float, interval: int, tolerance: int) -> None:
    limiter = SharedLimiter("user", rate, burst, _never)
    assert (limiter.interval_us, limiter.tolerance_us) == (interval, tolerance)


async def _never(key: str, interval: int, tolerance: int) -> float | None:
    raise AssertionError("not called")


@pytest.mark.anyio
async def test_shared_limiter_names_its_keys() -> None:
    seen: list[tuple[str, int, int]] = []

    async def take(key: str, interval: int, tolerance: int) -> float | None:
        seen.append((key, interval, tolerance))
        return 0.25 if key.endswith("b") else None

    limiter = SharedLimiter("address", 10, 2, take)
    assert await limiter.check("a") is None and await limiter.check("b") == 0.25
    assert seen == [("address:a", 100_000, 200_000), ("address:b", 100_000, 200_000)]
    with pytest.raises(ValueError, match="rate > 0"):
        SharedLimiter("user", 0, 2, take)


# The seam ----------------------------------------------------------------------------------
def test_stores_give_in_process_limiters_unless_shared(tmp_path) -> None:
    assert isinstance(MemoryStore().rate_limiter("user", 1, 2, max_keys=5), KeyedLimiter)
    assert isinstance(SQLiteStore(tmp_path / "r.db").rate_limiter("user", 1, 2, max_keys=5), KeyedLimiter)
    assert isinstance(SQLiteStore(tmp_path / "r.db", shared_limits=True).rate_limiter("user", 1, 2, max_keys=5),
                      SharedLimiter)
    assert isinstance(RedisStore().rate_limiter("user", 1, 2, max_keys=5), SharedLimiter)
    assert isinstance(RedisStore(shared_limits=False).rate_limiter("user", 1, 2, max_keys=5), KeyedLimiter)
    limiter = MemoryStore().rate_limiter("user", 1, 2, max_keys=5)
    assert isinstance(limiter, KeyedLimiter) and limiter.max_keys == 5
