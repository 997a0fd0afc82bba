"""Mailbox stores behind one interface (private; re-exported by ``chatkernel.relay``)."""

from ._base import AppendResult, MailboxStore, StoredEvent
from ._memory import MemoryStore
from ._redis import RedisStore
from ._spec import open_store
from ._sqlite import SQLiteStore
from ._wakeup import Listener

__all__ = [
    "AppendResult",
    "Listener",
    "MailboxStore",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "StoredEvent",
    "open_store",
]
