"""Bounded history: every record the kernel keeps (dropped events, inspection, budgets) lives in one."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["RingBuffer"]

T = TypeVar("T")


class RingBuffer(Generic[T]):
    """A deque with a fixed capacity that also counts what it has forgotten.

    Long-running kernels must never grow without bound; ``total`` and ``evicted`` keep the
    explorer honest about how much history was seen versus kept.
    """

    __slots__ = ("_items", "total")

    def __init__(self, capacity: int):
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        self._items: deque[T] = deque(maxlen=capacity)
        self.total = 0

    @property
    def capacity(self) -> int:
        return self._items.maxlen or 0

    @property
    def evicted(self) -> int:
        return self.total - len(self._items)

    def append(self, item: T) -> None:
        self._items.append(item)
        self.total += 1

    def clear(self) -> None:
        self._items.clear()

    def items(self) -> list[T]:
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"RingBuffer(len={len(self)}, capacity={self.capacity}, total={self.total})"
