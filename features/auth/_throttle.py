"""The rising delay after wrong passphrases: a pure policy, with time passed in.

After the n-th consecutive failure the next attempt waits :func:`delay_after` (n) seconds:
0, 1, 2, 4, 8, 16, then 30 for good (``base_s`` doubling from the second failure, capped at
``cap_s``); a success resets the count. Nothing here sleeps: :meth:`LoginThrottle.retry_after`
says how long until the next attempt is allowed and the caller awaits it (or shows a countdown).
Times are monotonic seconds, injected, so tests need no clock.

Persisting (:meth:`to_dict`) keeps the failure count only, because a monotonic time means nothing
after a restart; :meth:`from_dict` starts the full delay again from the moment of loading, so
restarting the kernel never shortens a wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ThrottleStateError

__all__ = ["DEFAULT_BASE_S", "DEFAULT_CAP_S", "LoginThrottle", "ThrottleBook", "delay_after"]

DEFAULT_BASE_S = 1.0
DEFAULT_CAP_S = 30.0
_FORMAT = 1


def delay_after(failures: int, *, base_s: float = DEFAULT_BASE_S, cap_s: float = DEFAULT_CAP_S) -> float:
    """Seconds to wait after ``failures`` consecutive failures (0 for none or one)."""
    if failures <= 1:
        return 0.0
    return float(min(cap_s, base_s * 2.0 ** min(failures - 2, 64)))


@dataclass
class LoginThrottle:
    """One profile's failure count and the monotonic time before which no attempt is allowed."""

    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    failures: int = 0
    not_before: float = field(default=float("-inf"))

    def retry_after(self, now: float) -> float:
        """Seconds until an attempt is allowed; 0.0 means now."""
        return max(0.0, self.not_before - now)

    def record_failure(self, now: float) -> float:
        """Count a wrong passphrase; the delay before the next attempt."""
        self.failures += 1
        delay = delay_after(self.failures, base_s=self.base_s, cap_s=self.cap_s)
        self.not_before = now + delay
        return delay

    def record_success(self) -> None:
        self.failures = 0
        self.not_before = float("-inf")

    def to_dict(self) -> dict[str, Any]:
        return {"v": _FORMAT, "failures": self.failures}

    @classmethod
    def from_dict(cls, data: object, *, now: float, base_s: float = DEFAULT_BASE_S,
                  cap_s: float = DEFAULT_CAP_S) -> LoginThrottle:
        """Restore the count; the wait it implies starts again at ``now``."""
        if (not isinstance(data, dict) or set(data) != {"v", "failures"} or data["v"] != _FORMAT
                or type(data["failures"]) is not int or data["failures"] < 0):
            raise ThrottleStateError(f"must be {{'v': {_FORMAT}, 'failures': <int >= 0>}}, "
                                 f"got {data!r}")
        throttle = cls(base_s=base_s, cap_s=cap_s, failures=data["failures"])
        if throttle.failures:
            throttle.not_before = now + delay_after(throttle.failures, base_s=base_s, cap_s=cap_s)
        return throttle


@dataclass
class ThrottleBook:
    """A :class:`LoginThrottle` per profile: failures on one profile never delay another."""

    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    profiles: dict[str, LoginThrottle] = field(default_factory=dict)

    def for_profile(self, profile: str) -> LoginThrottle:
        if profile not in self.profiles:
            self.profiles[profile] = LoginThrottle(self.base_s, self.cap_s)
        return self.profiles[profile]

    def to_dict(self) -> dict[str, Any]:
        return {name: t.to_dict() for name, t in sorted(self.profiles.items()) if t.failures}

    @classmethod
    def from_dict(cls, data: object, *, now: float, base_s: float = DEFAULT_BASE_S,
                  cap_s: float = DEFAULT_CAP_S) -> ThrottleBook:
        if not isinstance(data, dict):
            raise ThrottleStateError(f"the per-profile book must be a JSON object, got {type(data).__name__}")
        return cls(base_s, cap_s, {str(name): LoginThrottle.from_dict(state, now=now, base_s=base_s, cap_s=cap_s)
                                   for name, state in data.items()})
