"""Rate limiters: the seam the service charges requests through, and the in-process table.

:class:`RelayService` asks its store for each limit (``store.rate_limiter``), because only the
store knows whether other relay processes share it: a store used by one process keeps limits
here, in memory (:class:`KeyedLimiter`); a shared one (Redis, SQLite with several workers) keeps
them where every process sees them, behind :class:`SharedLimiter`, so a client gets its burst
once in all, not once per process.

The in-process table is an LRU of at most ``max_keys`` buckets so a flood of distinct addresses
cannot grow memory without bound; an evicted bucket comes back full, which only forgives a
client that has been quiet for longer than everyone else.

Shared limits use GCRA (the generic cell rate algorithm): one number per key, the theoretical
arrival time (TAT), in whole microseconds so every backend computes exactly the same answers
(:func:`gcra` here, a Lua script in Redis). It admits the same traffic as a token bucket of the
same rate and burst.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from .._ratelimit import TokenBucket

__all__ = ["KeyedLimiter", "RateLimiter", "SharedLimiter", "gcra"]

#: ``take(key, interval_us, tolerance_us)``: a shared backend's one atomic GCRA step; returns
#: seconds to wait, or ``None`` when the request is allowed (and charged).
Take = Callable[[str, int, int], Awaitable[float | None]]


class RateLimiter(Protocol):
    """What the service charges a request to: one limit, many keys (users or addresses)."""

    async def check(self, key: str) -> float | None:
        """Charge one request to ``key``: ``None`` if allowed, else seconds until one would be."""
        ...


class KeyedLimiter:
    """Token buckets in this process: right when no other process serves the same clients."""

    __slots__ = ("rate", "burst", "max_keys", "_clock", "_buckets")

    def __init__(
        self, rate: float, burst: float, *, max_keys: int = 65_536, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    async def check(self, key: str) -> float | None:
        return self.take(key)

    def take(self, key: str) -> float | None:
        """Take one token for ``key``: ``None`` if allowed, else seconds until one is free."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, clock=self._clock)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        if bucket.try_acquire():
            return None
        return bucket.retry_after()

    def __len__(self) -> int:
        return len(self._buckets)


class SharedLimiter:
    """One named limit kept by a backend that several relay processes share.

    Keys are ``name:key``, so the user and address limits never share a bucket. The rate is
    rounded to a whole number of microseconds per request (at most 10^6 requests/s per key).
    """

    __slots__ = ("name", "rate", "burst", "interval_us", "tolerance_us", "_take")

    def __init__(self, name: str, rate: float, burst: float, take: Take):
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"a limit needs rate > 0 and burst >= 1, got rate={rate!r}, burst={burst!r}")
        self.name = name
        self.rate = rate
        self.burst = burst
        self.interval_us = max(1, round(1_000_000 / rate))
        self.tolerance_us = max(self.interval_us, round(burst * self.interval_us))
        self._take = take

    def __repr__(self) -> str:
        return f"SharedLimiter({self.name!r}, rate={self.rate}, burst={self.burst})"

    async def check(self, key: str) -> float | None:
        return await self._take(f"{self.name}:{key}", self.interval_us, self.tolerance_us)


def gcra(stored: int | None, now: int, interval: int, tolerance: int) -> tuple[int | None, int]:
    """One GCRA decision in whole microseconds: ``(tat_to_store, wait)``.

    ``stored`` is the key's TAT (``None`` when unknown or expired), ``interval`` the time one
    request costs (1/rate) and ``tolerance`` the burst (``burst * interval``). The request is
    allowed when ``wait`` is 0; ``tat_to_store`` is ``None`` when nothing must be written. A TAT
    more than a full burst ahead means the clock stepped back: it is pulled back to one burst,
    so a step back never locks a key out for longer than a full burst would.
    The Redis store's Lua script is this function, line for line.
    """
    tat = now if stored is None or stored < now else stored
    write: int | None = None
    if tat > now + tolerance:
        tat = write = now + tolerance
    new_tat = tat + interval
    wait = new_tat - now - tolerance
    if wait > 0:
        return write, wait
    return new_tat, 0
