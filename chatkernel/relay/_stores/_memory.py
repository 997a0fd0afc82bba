"""The in-memory store: the embedded default, for notebooks and tests; gone on restart."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from .._errors import CursorAheadError, MailboxFullError, TooManyPrekeysError
from ._base import (
    AppendResult,
    Bundle,
    MailboxStore,
    OneTimePrekey,
    PrekeyState,
    SignedPrekey,
    StoredEvent,
    stale_prekey,
    take_within,
)

__all__ = ["MemoryStore"]

_INT_CURSOR = re.compile(r"(0|[1-9][0-9]{0,17})\Z")


def int_cursor_key(cursor: str) -> tuple[int, int]:
    """Cursor keys of the stores that number messages with one integer sequence."""
    if not isinstance(cursor, str) or not _INT_CURSOR.match(cursor):
        raise ValueError(f"not a relay id: {cursor!r}")
    return (int(cursor), 0)


class _Dedup(NamedTuple):
    to: str
    relay_id: str
    expires_at: int


class _Expiring(NamedTuple):
    value: str
    expires_at: int


class MemoryStore(MailboxStore):
    """Everything in dicts; ids come from one counter, so they grow across all mailboxes.

    The counter starts at the clock in microseconds: a relay that restarts (and so forgets its
    mailboxes) hands out ids above every id it handed out before, so a client's cursor from
    before the restart is behind the new messages, never on one of them (a counter from 0 gave
    the first new message the id a client had already acknowledged: it was skipped)."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._counter = time.time_ns() // 1_000
        self._boxes: dict[str, deque[StoredEvent]] = {}
        self._last: dict[str, int] = {}
        self._dedup: dict[tuple[str, str], _Dedup] = {}
        self._keys: dict[str, str] = {}
        self._tokens: dict[str, _Expiring] = {}
        self._proofs: dict[str, int] = {}
        self._signed: dict[str, SignedPrekey] = {}
        self._one_time: dict[str, dict[int, OneTimePrekey]] = {}  # id -> key, in upload order
        self._high: dict[str, int] = {}  # the highest one-time prekey id each user uploaded

    def __repr__(self) -> str:
        return f"MemoryStore(mailboxes={len(self._boxes)})"

    def cursor_key(self, cursor: str) -> tuple[int, int]:
        return int_cursor_key(cursor)

    async def append(
        self, *, to: str, sender: str, msg_id: str, payload: str, ts: int, max_len: int, dedup_until: int
    ) -> AppendResult:
        seen = self._dedup.get((sender, msg_id))
        if seen is not None and seen.expires_at > ts:
            return AppendResult(seen.relay_id, True, seen.to)
        box = self._boxes.setdefault(to, deque())
        if len(box) >= max_len:
            raise MailboxFullError(to, max_len)
        self._counter += 1
        relay_id = str(self._counter)
        box.append(StoredEvent(relay_id, sender, ts, payload))
        self._last[to] = self._counter
        self._dedup[(sender, msg_id)] = _Dedup(to, relay_id, dedup_until)
        self._hub.dispatch(to, "message")
        return AppendResult(relay_id, False, to)

    async def read(self, user: str, after: str | None, *, limit: int, max_bytes: int) -> list[StoredEvent]:
        box = self._boxes.get(user)
        if not box:
            return []
        floor = -1 if after is None else int_cursor_key(after)[0]
        return take_within((e for e in box if int(e.id) > floor), limit, max_bytes)

    async def ack(self, user: str, upto: str) -> int:
        upto_n = int_cursor_key(upto)[0]
        if upto_n > self._last.get(user, 0):
            raise CursorAheadError(upto)
        box = self._boxes.get(user)
        removed = 0
        while box and int(box[0].id) <= upto_n:
            box.popleft()
            removed += 1
        return removed

    async def length(self, user: str) -> int:
        return len(self._boxes.get(user, ()))

    async def purge(self, *, before: int, now: int) -> int:
        removed = 0
        for user, box in self._boxes.items():
            kept = deque(e for e in box if e.ts >= before)  # clocks can step back: scan all
            removed += len(box) - len(kept)
            self._boxes[user] = kept
        self._dedup = {k: v for k, v in self._dedup.items() if v.expires_at > now}
        self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
        self._proofs = {k: v for k, v in self._proofs.items() if v > now}
        return removed

    async def bind_key(self, user: str, public_key: str) -> bool:
        return self._keys.setdefault(user, public_key) == public_key

    async def get_key(self, user: str) -> str | None:
        return self._keys.get(user)

    async def put_token(self, token_hash: str, user: str, expires_at: int) -> None:
        self._tokens[token_hash] = _Expiring(user, expires_at)

    async def token_user(self, token_hash: str, now: int) -> str | None:
        entry = self._tokens.get(token_hash)
        return entry.value if entry is not None and entry.expires_at > now else None

    async def revoke_token(self, token_hash: str) -> bool:
        return self._tokens.pop(token_hash, None) is not None

    async def remember_proof(self, digest: str, expires_at: int, now: int) -> bool:
        seen = self._proofs.get(digest)
        if seen is not None and seen > now:
            return False
        self._proofs[digest] = expires_at
        return True

    async def put_prekeys(
        self, user: str, signed: SignedPrekey | None, one_time: Sequence[OneTimePrekey], *, max_total: int
    ) -> PrekeyState:
        current = self._signed.get(user)
        if signed is not None and current is not None and (
            signed.id < current.id or (signed.id == current.id and signed != current)
        ):
            raise stale_prekey(current.id)
        high = self._high.get(user, -1)
        new = [k for k in one_time if k.id > high]
        stock = self._one_time.setdefault(user, {})
        if len(stock) + len(new) > max_total:
            raise TooManyPrekeysError(max_total, len(stock))
        if signed is not None:
            self._signed[user] = signed
        for key in sorted(new, key=lambda k: k.id):
            stock[key.id] = key
        if new:
            self._high[user] = max(k.id for k in new)
        latest = self._signed.get(user)
        return PrekeyState(latest.id if latest else None, len(stock), len(new))

    async def take_prekeys(self, user: str) -> Bundle | None:
        signed = self._signed.get(user)
        if signed is None:
            return None
        stock = self._one_time.get(user)
        if not stock:
            return Bundle(signed, None)
        return Bundle(signed, stock.pop(min(stock)))
