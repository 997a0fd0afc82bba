"""Connection state, the long-poll loop and the outbox of the loaded identity.

The service keeps what must survive a reconnect (the acknowledged cursor, recently seen relay
ids, unsent messages), so switching relays or riding out an outage neither loses nor duplicates
a message; with the profile database (``db``) it keeps them across a kernel restart too (see
``_store``). It connects as the identity feature's identity and never holds a private key: the
``/connect`` proof is signed through ``identity.sign``. The machine decides *when* to connect,
poll and back off.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chatkernel import RingBuffer, spawn_task
from chatkernel.relay.protocol import b64url_encode, connect_message

from . import events as ev
from . import _store
from ._api import IdentityAPI, PersistenceAPI, TransactionAPI
from .client import RelayClient, check_url
from .errors import NoIdentityError, NotConnectedError, RelayRequestError, RelayTransportError, SignalingError

__all__ = ["Backoff", "OutgoingMessage", "SignalingService"]

log = logging.getLogger("chatkernel.features.signaling")

Emit = Callable[..., Any]


@dataclass
class Backoff:
    """Exponential backoff with full jitter: spreads reconnect storms, caps the wait."""

    base_s: float = 0.2
    cap_s: float = 10.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        self.attempt += 1
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (self.attempt - 1)))

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class OutgoingMessage:
    """``seq`` is its row in ``signaling_outbox`` (None: kept in memory only)."""

    to: str
    payload: Any
    id: str
    future: asyncio.Future[dict[str, Any]] | None = None
    attempts: int = 0
    seq: int | None = None


def _result_future() -> asyncio.Future[dict[str, Any]]:
    """A send's outcome. Whoever queued it may never await it (a fire-and-forget send, a kernel
    going away), so a failure is marked as seen: it is reported by RELAY_SEND_FAILED instead
    of as "exception never retrieved"."""
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    return future


class SignalingService:
    """What the signaling machine drives; also the feature's public service.

    The key directory, for a feature that cannot import this one (crypto builds the upload
    bodies and reads the bundles as plain JSON). Copy these two lines into its own ``_api.py``
    Protocol and declare ``requires={"signaling": ThatProtocol}``::

        async def upload_keys(self, body: dict[str, Any]) -> dict[str, Any]: ...
        async def fetch_bundle(self, user_id: str) -> dict[str, Any]: ...

    ``upload_keys(body)`` is ``POST /keys`` (docs/protocol.md): ``body`` may hold
    ``signedPrekey`` (build it with ``chatkernel.relay.protocol.signed_prekey``) and
    ``oneTimePrekeys``; ``userId`` is filled in when absent, so ``upload_keys({})`` only asks
    for the counts. It answers ``{"oneTimePrekeys": left, "accepted": added,
    "signedPrekeyId"?: id}`` and emits ``PREKEY_COUNT {remaining, accepted, signed_prekey_id}``
    (LOW), the cue to upload more. A refusal for good is :class:`KeyUploadError` (act on its
    ``code``: ``bad_prekey_signature``, ``stale_prekey``, ``too_many_prekeys``, ...).

    ``fetch_bundle(user_id)`` is ``GET /keys/{userId}``: ``{"userId", "publicKey": {"signing",
    "exchange"}, "signedPrekey": {"id", "key", "sig"}, "oneTimePrekey"?: {"id", "key"}}``
    (base64url keys), already checked: the user id, the keys' sizes, ``publicKey`` deriving the
    id and the signed prekey's signature (else :class:`InvalidBundleError`). Each call takes one
    one-time prekey for good; without one left the bundle has ``signedPrekey`` alone. No bundle
    is :class:`NoBundleError` (``code`` ``unknown_user`` or ``no_prekeys``).

    Both wait up to ``key_wait_s`` (the setting; or ``timeout=`` seconds, ``0`` to require a
    connection now) for the connected state, reconnect on 401 and wait out 429 / 503 within
    the same bound, then give up with :class:`NotConnectedError`, the relay's
    :class:`RelayRequestError` or the network's :class:`RelayTransportError`.
    """

    def __init__(self, emit: Emit, identity: IdentityAPI, *, db: PersistenceAPI | None = None,
                 allow_insecure: bool = False, poll_timeout_s: float = 25.0, backoff: Backoff | None = None,
                 outbox_limit: int = 10_000, seen_history: int = 4_096, key_wait_s: float = 10.0):
        self._emit = emit
        self.identity = identity
        #: The profile database: with it, the cursor, the seen ids and the outbox survive a
        #: restart. None keeps them in memory only.
        self.db = db
        #: A consumer stores each message itself (``retain_until_acknowledged``).
        self.retain = False
        #: How long a poll waits for the consumer to settle a batch before it reconnects.
        self.settle_timeout_s = 30.0
        self._settling: dict[str, asyncio.Future[bool]] = {}
        self._batch: list[str] = []  # the relay ids of the batch being settled, in order
        self._restored: tuple[str | None, str] | None = None  # (profile, user id) the state was read for
        self._seen_url: str | None = None  # the relay whose seen ids _seen holds
        self._cursor_url: str | None = None
        #: The user id the open session (or the last one) was made for; the relay binds it.
        self._session_user: str | None = None
        self.allow_insecure = allow_insecure
        self.poll_timeout_s = poll_timeout_s
        self.key_wait_s = key_wait_s
        self.backoff = backoff or Backoff()
        self.url: str | None = None
        self.cursor: str | None = None
        self.received = 0
        self.duplicates = 0
        self._client: RelayClient | None = None
        self.seen_history = seen_history
        self._seen_ring: RingBuffer[str] = RingBuffer(seen_history)
        self._seen: set[str] = set()
        self._outbox: deque[OutgoingMessage] = deque()
        self._last_seq = 0  # the newest outbox row queued in memory
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}  # submits' rows not yet queued
        self._outbox_limit = outbox_limit
        self._outbox_ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.on_token_rejected: Callable[[], None] | None = None

    @property
    def user_id(self) -> str | None:
        """The open session's user id, else the loaded identity's (None if none is loaded)."""
        if self._client is not None and self._session_user is not None:
            return self._session_user
        return self.identity.user_id

    @property
    def session_user(self) -> str | None:
        """The user id of the open session, or of the last one."""
        return self._session_user

    @property
    def has_identity(self) -> bool:
        return self.identity.user_id is not None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def pending_sends(self) -> int:
        return len(self._outbox)

    # ------------------------------------------------------------------ lifecycle
    def start(self, start_task: Callable[..., asyncio.Task[None]] = spawn_task) -> None:
        """Start the outbox loop: long-lived work, so it starts its own causal chain."""
        if self._sender is None:
            self._sender = start_task(self._send_loop(), name="signaling:outbox")

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        await self.drop_connection("feature unmounted", notify_relay=True)
        for message in self._outbox:
            if message.future is not None and not message.future.done():
                message.future.set_exception(NotConnectedError("the signaling feature was unmounted"))

    def set_url(self, url: str, *, allow_insecure_remote: bool | None = None) -> str:
        """Validate and adopt a relay URL; raises InvalidURLError or InsecureURLError.

        ``allow_insecure_remote`` comes with the URL from the settings feature (the app's one
        switch); None keeps the current one.
        """
        allow = self.allow_insecure if allow_insecure_remote is None else bool(allow_insecure_remote)
        self.url = check_url(url, allow_insecure=allow)
        self.allow_insecure = allow
        return self.url

    # ------------------------------------------------------------------ connection
    async def connect(self) -> dict[str, str]:
        """Open a session on the current URL; returns what SIGNALING_CONNECTED carries."""
        if self.url is None:
            raise NotConnectedError("no relay URL is set")
        await self.drop_connection("reconnecting", notify_relay=False)
        user_id, body = self.connect_body()
        if self._session_user is not None and user_id != self._session_user:
            self.forget_session()  # another identity: the last one's cursor and ids are not ours
        await self.restore(user_id)
        if self._cursor_url != self.url:
            self.cursor, self._cursor_url = None, self.url  # another relay's ids mean nothing here
        if self._restored is not None and self._seen_url != self.url:  # another relay: its own seen ids
            self._forget_seen()
            self._adopt_seen(await self._read_seen())
        client = RelayClient(self.url, allow_insecure=self.allow_insecure)
        try:
            await client.connect(body)
        except BaseException:
            await client.aclose()
            raise
        self._session_user = user_id
        self._client = client
        self._connected.set()
        self.backoff.reset()
        return {"url": self.url, "user_id": user_id}

    def connect_body(self, now_ms: int | None = None) -> tuple[str, dict[str, Any]]:
        """(user id, the ``POST /connect`` body) for the loaded identity: the fields of
        ``protocol.connect_request``, the proof signed through ``identity.sign`` over
        ``protocol.connect_message(user_id, ts)``. :class:`NoIdentityError` without an identity."""
        user_id = self.identity.user_id
        if user_id is None:
            raise NoIdentityError()
        ts = int(time.time() * 1000) if now_ms is None else int(now_ms)
        try:
            signing, exchange = self.identity.public_keys()
            signature = self.identity.sign(connect_message(user_id, ts))
        except Exception as exc:  # forgotten between the check and the signature (log-out)
            if self.identity.user_id is None:
                raise NoIdentityError() from None
            raise SignalingError(f"the identity could not sign the connect proof: {type(exc).__name__}") from exc
        return user_id, {
            "userId": user_id,
            "publicKey": {"signing": b64url_encode(signing), "exchange": b64url_encode(exchange)},
            "ts": ts,
            "sig": b64url_encode(signature),
        }

    def forget_session(self, reason: str | None = None) -> None:
        """Forget what belongs to the last identity: its cursor and seen relay ids, the sends
        kept in its database (they stay there, and are sent after its next log-in), and (with
        a ``reason``, at log-out) the sends kept in memory only, each failed with
        ``RELAY_SEND_FAILED``."""
        self.cursor = self._cursor_url = None
        self._restored = None
        self._last_seq = 0
        self._forget_seen()
        kept, dropped = deque[OutgoingMessage](), []
        for message in self._outbox:
            if message.seq is not None:
                if message.future is not None and not message.future.done():
                    message.future.set_exception(NotConnectedError(
                        "logged out: the message stays in the outbox and is sent after the next log-in"))
            elif reason is None:
                kept.append(message)
            else:
                dropped.append(message)
        self._outbox = kept
        for message in dropped:
            self._emit(ev.RELAY_SEND_FAILED, {"id": message.id, "to": message.to, "reason": reason})
            if message.future is not None and not message.future.done():
                message.future.set_exception(NotConnectedError(reason))

    # ------------------------------------------------------------------ the profile database
    def _db_open(self) -> bool:
        return self.db is not None and self.db.state == "open"

    async def restore(self, user_id: str) -> None:
        """Read what the profile database kept for ``user_id`` (once per log-in): the cursor of
        the current relay, the seen ids and the sends the relay has not accepted (queued again,
        in order). Messages not stored before a crash are still on the relay."""
        if self.db is None or not self._db_open():
            return
        key = (self.db.profile, user_id)
        if self._restored == key:
            return
        state = dict(await self.db.fetchall("SELECT name, value FROM signaling_state"))
        seen = await self._read_seen()
        outbox = await self.db.fetchall("SELECT seq, id, recipient, payload FROM signaling_outbox ORDER BY seq")
        self._restored = key
        if state.get("cursor_url") == self.url and "cursor" in state:
            self.cursor, self._cursor_url = state["cursor"], self.url
        self._adopt_seen(seen)
        self._adopt_rows(outbox)
        if outbox:
            log.info("restored %d unsent messages", len(outbox))

    async def _read_seen(self) -> list[str]:
        """The relay ids stored from the current relay, newest first."""
        assert self.db is not None
        return [row[0] for row in await self.db.fetchall(
            "SELECT relay_id FROM signaling_seen WHERE url = ? ORDER BY seq DESC LIMIT ?",
            (self.url or "", self.seen_history))]

    def _adopt_seen(self, newest_first: list[str]) -> None:
        for relay_id in reversed(newest_first):
            if relay_id not in self._seen:
                self._remember(relay_id)
        self._seen_url = self.url

    def _adopt_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Queue outbox rows not already queued (a row is queued once, whoever read it)."""
        queued = {m.seq for m in self._outbox if m.seq is not None}
        for seq, message_id, to, payload in rows:
            if int(seq) not in queued:
                self._outbox.append(OutgoingMessage(to, _store.decode_payload(payload), message_id,
                                                    self._waiting.pop(int(seq), None), seq=int(seq)))
                self._last_seq = max(self._last_seq, int(seq))
        if self._outbox:
            self._outbox_ready.set()

    def retain_until_acknowledged(self) -> None:
        """Called by a consumer that stores what it receives. From now on, for each
        ``RELAY_MESSAGE_RECEIVED`` it runs :meth:`acknowledge` in the transaction that stores the
        message and, once that committed (or failed), says so with :meth:`settle`. The relay is
        told (by the next poll) only of what settled as stored; a message that did not is
        delivered again after a reconnect, or after a restart."""
        self.retain = True

    async def acknowledge(self, tx: TransactionAPI, relay_id: str) -> bool:
        """In the consumer's transaction: the message ``relay_id`` is stored (its seen id, and
        the cursor if every message before it is stored). False if a transaction acknowledged it
        already: then roll back, it was handled once."""
        index = self._batch.index(relay_id) if relay_id in self._batch else -1
        earlier = self._batch[:index] if index >= 0 else None
        contiguous = earlier is not None and all(
            rid not in self._settling or (self._settling[rid].done() and self._settling[rid].result())
            for rid in earlier)
        return await _store.save_seen(tx, relay_id, cursor=relay_id if contiguous else None, url=self.url or "",
                                      seen_history=self.seen_history)

    def settle(self, relay_id: str, stored: bool) -> None:
        """After the consumer's transaction: ``relay_id`` was stored (or dropped for good, also
        with :meth:`acknowledge`), or not (it stays on the relay and comes again)."""
        waiting = self._settling.get(relay_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(bool(stored))
            if stored:  # its transaction committed: is_pending says so from now on, not after the batch
                self._remember(relay_id)

    async def is_pending(self, relay_id: str) -> bool:
        """Whether ``relay_id`` (from the current relay) is still to be stored: no transaction
        has acknowledged it. Answered from memory once the profile's seen ids are read (at the
        first connection): they are written only here, and a message is announced (and so can
        be asked about) only after the batch before it settled."""
        if self.db is None or not self._db_open():
            return True
        if relay_id in self._seen:
            return False
        if self._restored is not None and self._seen_url == self.url:
            return True
        return await self.db.fetchone("SELECT 1 FROM signaling_seen WHERE url = ? AND relay_id = ?",
                                      (self.url or "", relay_id)) is None

    async def queue(self, tx: TransactionAPI, to: str, payload: Any, message_id: str) -> None:
        """In the caller's transaction: a send written to the outbox, so it commits with the
        caller's own rows (an envelope and the ratchet step that made it). After the commit,
        call :meth:`wake`; a send committed just before a crash goes out after the restart."""
        text = self._check_send(to, payload, message_id, required_id=True)
        tx.write("INSERT INTO signaling_outbox (id, recipient, payload, created_at) VALUES (?, ?, ?, ?)",
                 (message_id, to, text, int(time.time() * 1000)))

    async def wake(self) -> None:
        """Pick up the sends :meth:`queue` committed (in order)."""
        if self.db is None or not self._db_open():
            return
        rows = await self.db.fetchall("SELECT seq, id, recipient, payload FROM signaling_outbox WHERE seq > ? "
                                      "ORDER BY seq", (self._last_seq,))
        self._adopt_rows(rows)

    async def drop_connection(self, reason: str, *, notify_relay: bool) -> None:
        self._connected.clear()
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if notify_relay and self._session_user is not None:
                try:
                    await client.disconnect(self._session_user)
                except SignalingError as exc:
                    log.info("disconnect from %s failed (%s); the token will expire", client.url, exc)
        finally:  # even when cancelled (shutdown): an unclosed session keeps its sockets
            await client.aclose()

    async def poll_forever(self) -> str:
        """Long-poll until the connection fails; returns why. Each event becomes RELAY_MESSAGE_RECEIVED."""
        client, user_id = self._client, self._session_user
        if client is None or user_id is None:
            return "not connected"
        while True:
            try:
                batch = await client.poll(user_id, self.cursor, self.poll_timeout_s)
            except RelayRequestError as exc:
                if exc.status == 422 and exc.reason == "cursor_ahead":
                    # The relay lost its mailboxes (an in-memory relay restarted): start over.
                    log.warning("relay rejected cursor %s (%s); resetting", self.cursor, exc.detail)
                    self.cursor = None
                    self._forget_seen()
                    if self.db is not None and self._db_open():  # its ids will be handed out again
                        try:
                            async with self.db.transaction() as tx:
                                await _store.forget_relay(tx, self.url or "")
                        except Exception as exc:  # the database closed (log-out): the poll ends
                            return f"the relay's seen ids could not be forgotten: {type(exc).__name__}: {exc}"
                    continue
                if exc.status == 401 and self.on_token_rejected is not None:
                    self.on_token_rejected()
                return str(exc)
            except RelayTransportError as exc:
                return str(exc)
            try:
                await self._deliver(batch)
            except Exception as exc:  # the database closed (log-out) or failed: store nothing, ack nothing
                log.warning("a batch of %d messages was not stored (%s); the relay keeps it", len(batch), exc)
                return f"the batch could not be stored: {type(exc).__name__}: {exc}"

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Store the batch (when there is a database), then announce each new message; the
        cursor moves only past what is stored, so the next poll acknowledges nothing unstored."""
        if not batch:
            return
        fresh: list[dict[str, Any]] = []
        fresh_ids: set[str] = set()
        for item in batch:
            relay_id = str(item.get("id"))
            if relay_id in self._seen or relay_id in fresh_ids:
                self.duplicates += 1
                continue
            fresh_ids.add(relay_id)
            fresh.append({"relay_id": relay_id, "sender": item.get("from"), "ts": item.get("ts"),
                          "payload": item.get("payload")})
        cursor = str(batch[-1].get("id"))
        if self.db is not None and not self._db_open():
            raise NotConnectedError("the profile database is locked")
        if self.db is not None and self.retain:
            await self._deliver_to_consumer(batch, fresh)
            return
        if self.db is not None:
            async with self.db.transaction() as tx:
                await _store.save_batch(tx, fresh, cursor=cursor, url=self.url or "", seen_history=self.seen_history)
        for message in fresh:
            self._remember(message["relay_id"])
        self.cursor = cursor
        for message in fresh:
            self.received += 1
            self._emit(ev.RELAY_MESSAGE_RECEIVED, message)

    async def _deliver_to_consumer(self, batch: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> None:
        """Announce the batch and wait for the consumer to settle each message; move the cursor
        past the stored ones only. If one was not stored, the poll ends (the relay delivers it
        again after the reconnect, from the cursor on)."""
        loop = asyncio.get_running_loop()
        waiting = {m["relay_id"]: loop.create_future() for m in fresh}
        self._settling.update(waiting)
        self._batch = [str(item.get("id")) for item in batch]
        try:
            for message in fresh:
                self.received += 1
                self._emit(ev.RELAY_MESSAGE_RECEIVED, message)
            if waiting:
                await asyncio.wait(list(waiting.values()), timeout=self.settle_timeout_s)
            for relay_id in self._batch:
                settled = waiting.get(relay_id)
                if settled is not None and not (settled.done() and settled.result()):
                    raise SignalingError(f"message {relay_id} was not stored by its consumer; "
                                         "it stays on the relay and comes again")
                if settled is not None:
                    self._remember(relay_id)
                self.cursor = relay_id
        finally:
            for relay_id in waiting:
                self._settling.pop(relay_id, None)
            self._batch = []

    def _remember(self, relay_id: str) -> None:
        if relay_id in self._seen:
            return
        if len(self._seen_ring) == self._seen_ring.capacity:
            self._seen.discard(self._seen_ring.items()[0])
        self._seen_ring.append(relay_id)
        self._seen.add(relay_id)

    def _forget_seen(self) -> None:
        self._seen.clear()
        self._seen_ring.clear()
        self._seen_url = None

    # ------------------------------------------------------------------ sending
    def _check_send(self, to: object, payload: object, message_id: object, *, required_id: bool = False) -> str:
        """The payload as stored (JSON text), once the send is checked."""
        if not isinstance(to, str) or not to:
            raise SignalingError(f"recipient must be a user id, got {to!r}")
        if (message_id is not None or required_id) and (not isinstance(message_id, str) or not message_id):
            raise SignalingError(f"message id must be a non-empty str, got {message_id!r}")
        if len(self._outbox) >= self._outbox_limit:
            raise SignalingError(f"the outbox is full ({self._outbox_limit} messages)")
        try:
            return _store.encode_payload(payload)
        except (TypeError, ValueError) as exc:
            raise SignalingError(f"the payload is not JSON: {exc}") from None

    def enqueue(self, to: str, payload: Any, message_id: str | None = None) -> OutgoingMessage:
        """Queue a message in memory; it is sent, in order, whenever a connection is up. It does
        not survive a restart: :meth:`submit` (or :meth:`queue` in a transaction) does."""
        self._check_send(to, payload, message_id)
        message = OutgoingMessage(to, payload, message_id or uuid.uuid4().hex,
                                  _result_future())
        self._outbox.append(message)
        self._outbox_ready.set()
        return message

    async def submit(self, to: str, payload: Any, message_id: str | None = None) -> OutgoingMessage:
        """Queue a message, in the outbox table when the profile database is open (so it is
        sent after a restart too), else in memory (:meth:`enqueue`). An id already waiting in
        the outbox is sent once more from memory: the relay answers it as a duplicate, so both
        callers get an answer and the message is stored once."""
        if self.db is None or not self._db_open():
            return self.enqueue(to, payload, message_id)
        text = self._check_send(to, payload, message_id)
        message = OutgoingMessage(to, payload, message_id or uuid.uuid4().hex,
                                  _result_future())
        try:
            async with self.db.transaction() as tx:
                row = await tx.fetchone(
                    "INSERT INTO signaling_outbox (id, recipient, payload, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(id) DO NOTHING RETURNING seq", (message.id, to, text, int(time.time() * 1000)))
                if row is not None:
                    # registered before the commit: whoever queues the row (maybe another
                    # submit's wake, before ours) hands it this future
                    message.seq = int(row[0])
                    self._waiting[message.seq] = message.future
        except BaseException:
            if message.seq is not None:
                self._waiting.pop(message.seq, None)
            raise
        if message.seq is None:
            return self.enqueue(to, payload, message.id)
        await self.wake()  # queues the rows committed before this one, then this one
        if self._waiting.pop(message.seq, None) is not None and not message.future.done():
            message.future.set_exception(NotConnectedError(
                "logged out: the message stays in the outbox and is sent after the next log-in"))
        return message

    async def send(self, to: str, payload: Any, *, message_id: str | None = None) -> dict[str, Any]:
        """Send and wait for the relay to accept: ``{id, relayId, duplicate}``."""
        message = await self.submit(to, payload, message_id)
        assert message.future is not None
        return await message.future

    async def _send_loop(self) -> None:
        while True:
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            await self._connected.wait()
            client, user_id = self._client, self._session_user
            if client is None or user_id is None:
                await asyncio.sleep(0)
                continue
            message = self._outbox[0]
            message.attempts += 1
            try:
                result = await client.send(user_id, message.to, message.id, message.payload)
            except RelayRequestError as exc:
                if exc.status == 401:
                    self._connected.clear()
                    if self.on_token_rejected is not None:
                        self.on_token_rejected()
                    continue
                if exc.transient:
                    await asyncio.sleep(exc.retry_after or Backoff(attempt=message.attempts - 1).next_delay())
                    continue
                await self._pop(message)
                self._finish(message, error=exc)
                continue
            except RelayTransportError:
                await asyncio.sleep(Backoff(attempt=min(message.attempts, 8) - 1).next_delay())
                continue
            await self._pop(message)
            self._finish(message, result=result)

    async def _pop(self, message: OutgoingMessage) -> None:
        """Take ``message`` off the outbox (and its row off the table), unless a log-out
        emptied it meanwhile. If the row cannot be deleted (the database closed), the message
        goes again after the next log-in and the relay answers it as a duplicate."""
        if self._outbox and self._outbox[0] is message:
            self._outbox.popleft()
        if message.seq is not None and self.db is not None and self._db_open():
            try:
                await self.db.execute("DELETE FROM signaling_outbox WHERE seq = ?", (message.seq,))
            except Exception as exc:
                log.info("sent message %s stays in the outbox (%s); its resend will be a duplicate", message.id, exc)

    def _finish(self, message: OutgoingMessage, *, result: dict[str, Any] | None = None,
                error: RelayRequestError | None = None) -> None:
        if error is not None:
            self._emit(ev.RELAY_SEND_FAILED, {"id": message.id, "to": message.to, "reason": str(error)})
            if message.future is not None and not message.future.done():
                message.future.set_exception(error)
            return
        assert result is not None
        self._emit(ev.RELAY_MESSAGE_SENT, {"id": message.id, "to": message.to, "relay_id": result.get("relayId"),
                                     "duplicate": bool(result.get("duplicate"))})
        if message.future is not None and not message.future.done():
            message.future.set_result(result)

    # ------------------------------------------------------------------ key directory
    async def upload_keys(self, body: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """``POST /keys`` (see the class docstring); emits ``PREKEY_COUNT`` on success."""
        if not isinstance(body, dict):
            raise SignalingError(f"a key upload is a JSON object, got {type(body).__name__}")
        answer = await self._keys_call("upload keys", timeout,
                                       lambda client: client.upload_keys({"userId": self._session_user, **body}),
                                       idempotent=True)
        self._emit(ev.PREKEY_COUNT, {"remaining": answer["oneTimePrekeys"], "accepted": answer["accepted"],
                                     "signed_prekey_id": answer.get("signedPrekeyId")})
        return answer

    async def fetch_bundle(self, user_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """``GET /keys/{user_id}``, checked (see the class docstring)."""
        if user_id == self.user_id:
            raise SignalingError("cannot fetch our own bundle (upload_keys({}) answers our own counts)")
        return await self._keys_call(f"fetch the bundle of {user_id}", timeout,
                                     lambda client: client.fetch_bundle(user_id), idempotent=False)

    async def _keys_call(self, what: str, timeout: float | None,
                         call: Callable[[RelayClient], Awaitable[dict[str, Any]]], *,
                         idempotent: bool) -> dict[str, Any]:
        """Run ``call`` on a connected client within one deadline: wait for the connection,
        reconnect on 401, wait out transient refusals and network errors while time is left.

        A call that is not ``idempotent`` (a fetch takes a one-time prekey) is retried only
        when the relay surely took nothing: after 429 or 503, or a network error before the
        request was sent (no connection)."""
        wait = self.key_wait_s if timeout is None else max(0.0, float(timeout))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        attempt = 0
        while True:
            client = await self._connected_client(what, wait, deadline)
            attempt += 1
            try:
                return await call(client)
            except RelayRequestError as exc:
                if type(exc) is not RelayRequestError:
                    raise  # a precise refusal (KeyUploadError, NoBundleError) is final
                if exc.status == 401:
                    self._token_rejected(client)
                    continue
                if not exc.transient or not idempotent and exc.status not in (429, 503):
                    raise  # a fetch answered 5xx may have taken a one-time prekey: not again
                delay = exc.retry_after if exc.retry_after is not None else self._retry_delay(attempt)
                if loop.time() + delay > deadline:
                    raise
            except RelayTransportError as exc:
                if not idempotent and exc.sent:
                    raise
                delay = self._retry_delay(attempt)
                if loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)

    @staticmethod
    def _retry_delay(attempt: int) -> float:
        return Backoff(attempt=min(attempt, 8) - 1).next_delay()

    async def _connected_client(self, what: str, wait: float, deadline: float) -> RelayClient:
        while True:
            if self.url is None:
                raise NotConnectedError(f"cannot {what}: no relay URL is set")
            if self._connected.is_set() and self._client is not None:
                return self._client
            try:
                async with asyncio.timeout_at(deadline):
                    await self._connected.wait()
            except TimeoutError:
                raise NotConnectedError(f"cannot {what}: not connected to {self.url} "
                                        f"(waited {wait:g} s for a connection)") from None
            await asyncio.sleep(0)  # let connect() finish publishing the client

    def _token_rejected(self, client: RelayClient) -> None:
        """The relay refused this client's token: reconnect, unless that already happened."""
        if client is self._client and self._connected.is_set():
            self._connected.clear()
            if self.on_token_rejected is not None:
                self.on_token_rejected()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"SignalingService({self.user_id}, {state}, url={self.url!r})"
