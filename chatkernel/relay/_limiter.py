"""Token buckets keyed by user id or client address, in a bounded table.

The table is an LRU of at most ``max_keys`` buckets so a flood of distinct addresses cannot
grow memory without bound; an evicted bucket comes back full, which only forgives a client
that has been quiet for longer than everyone else.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from .._ratelimit import TokenBucket

__all__ = ["KeyedLimiter"]


class KeyedLimiter:
    __slots__ = ("rate", "burst", "max_keys", "_clock", "_buckets")

    def __init__(self, rate: float, burst: float, *, max_keys: int = 65_536, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, key: str) -> float | None:
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
