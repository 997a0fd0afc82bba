"""A conversation's window in memory, and what it notes while a page of it is being read.

A page is read from the database across awaits; an event that lands meanwhile (a receipt, an
arrival, our own send) may postdate the rows read, and applying it to a window that does not
hold them yet would lose it. So while a page is read the window notes the ids that moved, and
the service reads them again once the page is in (:meth:`ChatService._catch_up`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Conversation", "Watcher"]

Watcher = Callable[[str, dict[str, Any]], None]

#: Ids noted during one page read before the window gives up on ids and reads the page again.
MISSED_MAX = 512


class Conversation:
    """One conversation in memory: the loaded window (oldest first, then what is unsent), who
    watches it (windows showing it), and who is typing (the peer, or members of a group: user
    id -> the timer that ends it)."""

    def __init__(self, conversation_id: str):
        self.id = conversation_id
        self.messages: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.loaded = False
        self.has_older = False
        self.oldest_seq: int | None = None  # the oldest row read, shown or hidden: where the next page ends
        self.open = False
        self.typers: dict[str, asyncio.TimerHandle] = {}
        self.watchers: list[Watcher] = []
        self.paging = asyncio.Lock()  # one page read at a time: each catches up on what it missed
        self.reading = False
        self.missed: set[str] = set()
        self.overflow = False  # more moved than MISSED_MAX while a page was read

    @property
    def typing(self) -> bool:
        return bool(self.typers)

    def note(self, *message_ids: str) -> None:
        """These moved; if a page is being read, it may hold them as they were."""
        if not self.reading or self.overflow:
            return
        self.missed.update(message_ids)
        if len(self.missed) > MISSED_MAX:
            self.missed.clear()
            self.overflow = True

    def take_missed(self) -> set[str]:
        missed, self.missed = self.missed, set()
        return missed

    def stop_typing_timers(self) -> None:
        for timer in self.typers.values():
            timer.cancel()
        self.typers.clear()

    def put(self, message: dict[str, Any]) -> bool:
        """Add or replace by id; True if it was new."""
        old = self.by_id.get(message["id"])
        self.by_id[message["id"]] = message
        if old is None:
            self.messages.append(message)
            return True
        for i in range(len(self.messages) - 1, -1, -1):  # what changes is nearly always recent
            if self.messages[i] is old:
                self.messages[i] = message
                break
        return False

    def drop(self, message_id: str) -> None:
        old = self.by_id.pop(message_id, None)
        if old is not None:
            self.messages.remove(old)

    def tell(self, kind: str, **data: Any) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(kind, data)
            except Exception:  # noqa: BLE001 - a broken window must not stop the conversation
                logging.getLogger("chatkernel.features.chat").exception("a window watching %s failed", self.id)

    def __repr__(self) -> str:
        return (f"Conversation({self.id[:8]}…, loaded={len(self.messages)}, open={self.open}, "
                f"has_older={self.has_older})")
