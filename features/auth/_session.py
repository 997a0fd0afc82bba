"""Session timeout: a pure policy over monotonic time, injected.

A session expires ``timeout_s`` seconds after the last activity (:meth:`SessionTimeout.touch`);
``timeout_s`` 0 means never. The clock is ``time.monotonic`` by default, so a wall-clock change
(NTP, suspend on some systems, a user editing the date) neither ends a session early nor keeps
it alive; tests pass their own clock or explicit ``now`` values.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SessionTimeout"]


class SessionTimeout:
    def __init__(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic,
                 now: float | None = None) -> None:
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or timeout_s < 0:
            raise ValueError(f"timeout_s must be a number >= 0 (0: never), got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self._clock = clock
        self.last_activity = clock() if now is None else now

    def __repr__(self) -> str:
        return f"SessionTimeout(timeout_s={self.timeout_s:g}, last_activity={self.last_activity:.3f})"

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def touch(self, now: float | None = None) -> None:
        """Record activity (a message sent, a panel used): the timeout starts again."""
        self.last_activity = max(self.last_activity, self._now(now))

    def remaining(self, now: float | None = None) -> float:
        """Seconds until expiry (``inf`` when the timeout is off, 0.0 once expired)."""
        if not self.timeout_s:
            return float("inf")
        return max(0.0, self.last_activity + self.timeout_s - self._now(now))

    def is_expired(self, now: float | None = None) -> bool:
        return bool(self.timeout_s) and self._now(now) >= self.last_activity + self.timeout_s
