"""Counters, gauges and timings named as in the seed (``feature.{id}.mounted`` and friends)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Metrics", "TimingStats", "feature_metric"]


def feature_metric(feature_id: str, *parts: str) -> str:
    """``feature_metric("chat", "events", "MESSAGE_SENT")`` -> ``feature.chat.events.MESSAGE_SENT``."""
    return ".".join(("feature", feature_id, *parts))


@dataclass
class TimingStats:
    """Aggregates of one timed operation, in milliseconds; constant memory however many samples."""

    count: int = 0
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = 0.0
    last_ms: float = 0.0

    def add(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.last_ms = ms
        if ms < self.min_ms:
            self.min_ms = ms
        if ms > self.max_ms:
            self.max_ms = ms

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "mean_ms": round(self.mean_ms, 6),
            "min_ms": round(self.min_ms, 6) if self.count else 0.0,
            "max_ms": round(self.max_ms, 6),
            "last_ms": round(self.last_ms, 6),
        }


@dataclass
class Metrics:
    """In-process metrics store; the explorer reads it, nothing here does I/O."""

    counters: dict[str, int] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    timings: dict[str, TimingStats] = field(default_factory=dict)

    def increment(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def timing(self, name: str, ms: float) -> None:
        stats = self.timings.get(name)
        if stats is None:
            stats = self.timings[name] = TimingStats()
        stats.add(ms)

    def get(self, name: str, default: float = 0) -> float:
        if name in self.counters:
            return self.counters[name]
        if name in self.gauges:
            return self.gauges[name]
        return default

    def matching(self, prefix: str) -> dict[str, object]:
        """Every metric whose name starts with ``prefix``, sorted, timings as dicts."""
        out: dict[str, object] = {}
        for source in (self.counters, self.gauges):
            out.update({k: v for k, v in source.items() if k.startswith(prefix)})
        out.update({k: v.as_dict() for k, v in self.timings.items() if k.startswith(prefix)})
        return dict(sorted(out.items()))

    def clear(self) -> None:
        self.counters.clear()
        self.gauges.clear()
        self.timings.clear()
