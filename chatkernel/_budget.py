"""Performance budgets: handlers that run longer than allowed are recorded, never killed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ._metrics import Metrics, feature_metric
from ._ringbuffer import RingBuffer

__all__ = ["BudgetViolation", "PerformanceBudget"]

log = logging.getLogger("chatkernel.budget")


@dataclass(frozen=True, slots=True)
class BudgetViolation:
    owner: str
    operation: str
    elapsed_ms: float
    budget_ms: float


class PerformanceBudget:
    """A time budget per operation kind (``handler``, ``mount``...), in milliseconds.

    Budgets exist so a slow handler shows up in the explorer with its name instead of as a
    mysteriously sluggish kernel.
    """

    def __init__(
        self,
        budgets_ms: dict[str, float] | None = None,
        *,
        metrics: Metrics | None = None,
        history: int = 256,
    ):
        self.budgets_ms = {"handler": 50.0, "mount": 1000.0, "unmount": 1000.0, **(budgets_ms or {})}
        for name, value in self.budgets_ms.items():
            if not value > 0:
                raise ValueError(f"budget {name!r} must be > 0 ms, got {value!r}")
        self.metrics = metrics if metrics is not None else Metrics()
        self.violations: RingBuffer[BudgetViolation] = RingBuffer(history)

    def check(self, owner: str, operation: str, elapsed_ms: float) -> bool:
        """Record ``elapsed_ms``; return False (and remember why) if it broke the budget."""
        budget = self.budgets_ms.get(operation)
        if budget is None or elapsed_ms <= budget:
            return True
        self.violations.append(BudgetViolation(owner, operation, elapsed_ms, budget))
        self.metrics.increment(feature_metric(owner, "budget_exceeded", operation))
        log.warning("%s %s took %.1f ms (budget %.1f ms)", owner, operation, elapsed_ms, budget)
        return False
