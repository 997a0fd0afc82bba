"""In-process wake-ups for parked polls.

A store delivers every wake-up for a user (a new message, a newer poll, a revoked token) to the
listeners registered here. The Redis store feeds it from pub/sub, so a send on another node
wakes a poll parked on this one. A listener is registered *before* the poll reads its mailbox,
so a message that arrives between the read and the wait is never missed.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Listener", "WakeupHub"]


class Listener:
    """The wake-ups of one parked poll, in arrival order."""

    __slots__ = ("user", "_hub", "_reasons", "_event", "_closed")

    def __init__(self, hub: WakeupHub, user: str):
        self.user = user
        self._hub = hub
        self._reasons: deque[str] = deque(maxlen=64)
        self._event = asyncio.Event()
        self._closed = False

    def push(self, reason: str) -> None:
        self._reasons.append(reason)
        self._event.set()

    async def wait(self, timeout: float) -> str | None:
        """The next wake-up reason, or ``None`` once ``timeout`` seconds pass without one."""
        if not self._reasons:
            self._event.clear()
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await self._event.wait()
            except TimeoutError:
                return None
        return self._reasons.popleft() if self._reasons else None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._remove(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WakeupHub:
    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}

    def listen(self, user: str) -> Listener:
        listener = Listener(self, user)
        self._listeners.setdefault(user, set()).add(listener)
        return listener

    def dispatch(self, user: str, reason: str) -> None:
        for listener in tuple(self._listeners.get(user, ())):
            listener.push(reason)

    def dispatch_all(self, reason: str) -> None:
        for listeners in tuple(self._listeners.values()):
            for listener in tuple(listeners):
                listener.push(reason)

    def _remove(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.user)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.user]

    def __len__(self) -> int:
        return sum(len(v) for v in self._listeners.values())
