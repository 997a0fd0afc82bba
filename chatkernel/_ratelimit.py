"""Token-bucket rate limiting, shared by the kernel and the relay."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allows bursts up to ``capacity`` and a sustained ``rate`` per second.

    The clock is injectable so tests drive time instead of sleeping.
    """

    __slots__ = ("rate", "capacity", "_tokens", "_stamp", "_clock")

    def __init__(self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic):
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if not capacity >= 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._stamp = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def try_acquire(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if available; never blocks."""
        if n > self.capacity:
            raise ValueError(f"cannot acquire {n} tokens from a bucket of capacity {self.capacity}")
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def retry_after(self, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens will be available (0 when they already are)."""
        self._refill()
        missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, capacity={self.capacity}, tokens={self.tokens:.2f})"
