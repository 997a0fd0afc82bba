"""The one interface every mailbox store implements, and the records it trades in.

The relay's semantics (idempotent append, FIFO read after a cursor, ack by cursor, first key
binding wins, hashed tokens with expiry, one-time prekeys handed out once) live in the stores'
contract, checked by a single conformance suite, so a new backend only has to pass that suite.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from .._errors import STALE_PREKEY, ConflictError
from .._limiter import KeyedLimiter, RateLimiter
from ._wakeup import Listener, WakeupHub

__all__ = ["AppendResult", "Bundle", "MailboxStore", "OneTimePrekey", "PrekeyState", "SignedPrekey", "StoredEvent",
           "stale_prekey", "take_within"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One undelivered message; ``payload`` is the JSON text exactly as stored."""

    id: str
    sender: str
    ts: int
    payload: str

    @property
    def size(self) -> int:
        return len(self.payload)  # payloads are stored as ASCII JSON


@dataclass(frozen=True, slots=True)
class AppendResult:
    relay_id: str
    duplicate: bool
    to: str


@dataclass(frozen=True, slots=True)
class SignedPrekey:
    """A signed prekey as uploaded (already verified): ``key`` and ``sig`` in base64url."""

    id: int
    key: str
    sig: str


@dataclass(frozen=True, slots=True)
class OneTimePrekey:
    id: int
    key: str  # base64url


@dataclass(frozen=True, slots=True)
class PrekeyState:
    """What a user's directory entry holds after an upload: the owner's low-water signal."""

    signed_prekey_id: int | None
    one_time: int  # one-time prekeys left
    accepted: int  # one-time prekeys this upload added


@dataclass(frozen=True, slots=True)
class Bundle:
    signed: SignedPrekey
    one_time: OneTimePrekey | None  # None once every one-time prekey was handed out


def stale_prekey(current: int) -> ConflictError:
    """The refusal of a signed prekey that is not newer than the one stored (409)."""
    return ConflictError(STALE_PREKEY, "signedPrekey.id", f"signedPrekey.id must be above {current}, the id of "
                         "the current signed prekey (or repeat that exact upload)")


def take_within(events: Iterable[StoredEvent], limit: int, max_bytes: int) -> list[StoredEvent]:
    """The longest prefix within ``limit`` events and ``max_bytes`` of payload, never empty
    when events exist (a single oversized event must not block its mailbox forever)."""
    taken: list[StoredEvent] = []
    total = 0
    for event in events:
        if len(taken) >= limit:
            break
        total += event.size
        if taken and total > max_bytes:
            break
        taken.append(event)
    return taken


class MailboxStore(abc.ABC):
    """Mailboxes, key bindings, tokens and replay records for the relay.

    Times are milliseconds since the epoch, chosen by the caller, so stores hold no clock of
    their own (except Redis, whose stream ids carry the server's time). Relay ids increase
    strictly within a mailbox and are opaque strings to clients; :meth:`cursor_key` turns one
    into a sortable key and rejects malformed ones.
    """

    backend: ClassVar[str] = "abstract"

    def __init__(self) -> None:
        self._hub = WakeupHub()

    # Lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and prepare; idempotent."""

    async def close(self) -> None:
        """Release connections and threads; idempotent."""

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the store answers now (``GET /ready``)."""

    async def __aenter__(self) -> MailboxStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # Mailboxes ---------------------------------------------------------------------------
    @abc.abstractmethod
    def cursor_key(self, cursor: str) -> tuple[int, int]:
        """A sortable key for a relay id; ``ValueError`` if it cannot be one of ours."""

    @abc.abstractmethod
    async def append(
        self, *, to: str, sender: str, msg_id: str, payload: str, ts: int, max_len: int, dedup_until: int
    ) -> AppendResult:
        """Store a message unless (sender, msg_id) was seen before ``dedup_until`` expired.

        A duplicate returns the first result with ``duplicate=True``. A full mailbox raises
        :class:`MailboxFullError`. A new message wakes the recipient's listeners.
        """

    @abc.abstractmethod
    async def read(self, user: str, after: str | None, *, limit: int, max_bytes: int) -> list[StoredEvent]:
        """Messages with ids after ``after`` (from the oldest when ``None``), in order."""

    @abc.abstractmethod
    async def ack(self, user: str, upto: str) -> int:
        """Delete messages with ids up to and including ``upto``; return how many.

        Raises :class:`CursorAheadError` when ``upto`` is past the newest id ever assigned in
        this mailbox, because acknowledging it would swallow messages not yet sent.
        """

    @abc.abstractmethod
    async def length(self, user: str) -> int: ...

    @abc.abstractmethod
    async def purge(self, *, before: int, now: int) -> int:
        """Delete messages stored before ``before`` and records expired at ``now``;
        return how many messages went."""

    # Identity ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def bind_key(self, user: str, public_key: str) -> bool:
        """Bind ``user`` to ``public_key`` unless bound; ``False`` if bound to another key."""

    @abc.abstractmethod
    async def get_key(self, user: str) -> str | None: ...

    @abc.abstractmethod
    async def put_token(self, token_hash: str, user: str, expires_at: int) -> None: ...

    @abc.abstractmethod
    async def token_user(self, token_hash: str, now: int) -> str | None:
        """The user a live token belongs to; ``None`` if unknown, revoked or expired."""

    @abc.abstractmethod
    async def revoke_token(self, token_hash: str) -> bool: ...

    @abc.abstractmethod
    async def remember_proof(self, digest: str, expires_at: int, now: int) -> bool:
        """Record a ``/connect`` proof; ``False`` if it was already seen (a replay)."""

    # Key directory (X3DH) ----------------------------------------------------------------
    @abc.abstractmethod
    async def put_prekeys(
        self, user: str, signed: SignedPrekey | None, one_time: Sequence[OneTimePrekey], *, max_total: int
    ) -> PrekeyState:
        """Store a signed prekey and one-time prekeys for ``user``, all or nothing, atomically.

        ``signed`` replaces the current signed prekey when its id is higher; the same id with
        the same key and signature is a harmless retry; anything else raises
        :class:`ConflictError` (``stale_prekey``), so an old upload cannot roll the key back.
        A one-time prekey whose id is not above every id ``user`` ever uploaded is skipped (not
        counted in ``accepted``): a retried or replayed upload never resurrects a key already
        handed out. If the new ones would take the stock past ``max_total``, nothing is stored
        and :class:`TooManyPrekeysError` says so. Ids within ``one_time`` are distinct.
        """

    @abc.abstractmethod
    async def take_prekeys(self, user: str) -> Bundle | None:
        """The signed prekey and the lowest-id one-time prekey, which is deleted in the same
        atomic step, so concurrent callers (on every relay sharing the store) never get the
        same one. ``None`` (and nothing consumed) when ``user`` has no signed prekey."""

    # Rate limits -------------------------------------------------------------------------
    def rate_limiter(self, name: str, rate: float, burst: float, *, max_keys: int) -> RateLimiter:
        """A limit of ``rate`` requests/s and bursts of ``burst`` per key; ``name`` keeps the
        keys of different limits apart.

        In this process by default (an LRU of ``max_keys`` buckets), which is right for a store
        only one relay process uses. A store that several processes share overrides this so the
        limit is counted once for all of them. Called before :meth:`open`; the limiter may only
        be checked while the store is open.
        """
        return KeyedLimiter(rate, burst, max_keys=max_keys)

    # Wake-ups ----------------------------------------------------------------------------
    def listen(self, user: str) -> Listener:
        """Register for ``user``'s wake-ups now; close the listener when done."""
        return self._hub.listen(user)

    async def notify(self, user: str, reason: str) -> None:
        """Wake every listener of ``user`` (on every relay sharing this store)."""
        self._hub.dispatch(user, reason)

    def wake_all_local(self, reason: str) -> None:
        """Wake every listener in this process (used at shutdown)."""
        self._hub.dispatch_all(reason)
