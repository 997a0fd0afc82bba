"""One thread that owns the database connection; every call runs there.

The kernel's loop only awaits futures, so a slow statement never blocks it, and the connection
(which SQLite ties to its thread) needs no locks. Jobs run in submission order, which the
service relies on: a rollback submitted before a lock is released runs before the next job.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["DBThread"]

T = TypeVar("T")


class DBThread:
    def __init__(self, name: str):
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._executor is not None

    def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue ``fn(*args)`` now (FIFO) and return a future to await on the running loop."""
        assert self._executor is not None, "DBThread used before start()"
        return asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.submit(fn, *args)

    async def stop(self) -> None:
        """Finish queued jobs, then end the thread (waited for off the loop)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
