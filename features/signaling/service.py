"""Connection state, the long-poll loop and the outbox of the loaded identity.

The service keeps what must survive a reconnect (the acknowledged cursor, recently seen relay
ids, unsent messages), so switching relays or riding out an outage neither loses nor duplicates
a message. It connects as the identity feature's identity and never holds a private key: the
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

import httpx

from chatkernel import RingBuffer, spawn_task
from chatkernel.relay.protocol import b64url_encode, connect_message

from . import events as ev
from ._api import IdentityAPI
from .client import RelayClient, check_url
from .errors import NoIdentityError, NotConnectedError, RelayRequestError, SignalingError

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
    to: str
    payload: Any
    id: str
    future: asyncio.Future[dict[str, Any]] | None = None
    attempts: int = 0


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
    :class:`RelayRequestError` or the network's ``httpx.TransportError``.
    """

    def __init__(self, emit: Emit, identity: IdentityAPI, *, allow_insecure: bool = False,
                 poll_timeout_s: float = 25.0, backoff: Backoff | None = None, outbox_limit: int = 10_000,
                 seen_history: int = 4_096, key_wait_s: float = 10.0):
        self._emit = emit
        self.identity = identity
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
        self._seen_ring: RingBuffer[str] = RingBuffer(seen_history)
        self._seen: set[str] = set()
        self._outbox: deque[OutgoingMessage] = deque()
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
        """Forget what belongs to the last identity: its cursor and seen relay ids, and (with a
        ``reason``, at log-out) its queued sends, each failed with ``MESSAGE_SEND_FAILED``."""
        self.cursor = None
        self._forget_seen()
        if reason is None:
            return
        pending, self._outbox = list(self._outbox), deque()
        for message in pending:
            self._emit(ev.MESSAGE_SEND_FAILED, {"id": message.id, "to": message.to, "reason": reason})
            if message.future is not None and not message.future.done():
                message.future.set_exception(NotConnectedError(reason))

    async def drop_connection(self, reason: str, *, notify_relay: bool) -> None:
        self._connected.clear()
        client, self._client = self._client, None
        if client is None:
            return
        if notify_relay and self._session_user is not None:
            try:
                await client.disconnect(self._session_user)
            except (httpx.HTTPError, SignalingError) as exc:
                log.info("disconnect from %s failed (%s); the token will expire", client.url, exc)
        await client.aclose()

    async def poll_forever(self) -> str:
        """Long-poll until the connection fails; returns why. Each event becomes MESSAGE_RECEIVED."""
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
                    continue
                if exc.status == 401 and self.on_token_rejected is not None:
                    self.on_token_rejected()
                return str(exc)
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._deliver(batch)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        for item in batch:
            relay_id = str(item.get("id"))
            if relay_id in self._seen:
                self.duplicates += 1
            else:
                self._remember(relay_id)
                self.received += 1
                self._emit(ev.MESSAGE_RECEIVED, {
                    "relay_id": relay_id, "sender": item.get("from"), "ts": item.get("ts"),
                    "payload": item.get("payload"),
                })
            self.cursor = relay_id

    def _remember(self, relay_id: str) -> None:
        if len(self._seen_ring) == self._seen_ring.capacity:
            self._seen.discard(self._seen_ring.items()[0])
        self._seen_ring.append(relay_id)
        self._seen.add(relay_id)

    def _forget_seen(self) -> None:
        self._seen.clear()
        self._seen_ring.clear()

    # ------------------------------------------------------------------ sending
    def enqueue(self, to: str, payload: Any, message_id: str | None = None) -> OutgoingMessage:
        """Queue a message; it is sent, in order, whenever a connection is up."""
        if not isinstance(to, str) or not to:
            raise SignalingError(f"recipient must be a user id, got {to!r}")
        if message_id is not None and (not isinstance(message_id, str) or not message_id):
            raise SignalingError(f"message id must be a non-empty str, got {message_id!r}")
        if len(self._outbox) >= self._outbox_limit:
            raise SignalingError(f"the outbox is full ({self._outbox_limit} messages)")
        message = OutgoingMessage(to, payload, message_id or uuid.uuid4().hex,
                                  asyncio.get_running_loop().create_future())
        self._outbox.append(message)
        self._outbox_ready.set()
        return message

    async def send(self, to: str, payload: Any, *, message_id: str | None = None) -> dict[str, Any]:
        """Send and wait for the relay to accept: ``{id, relayId, duplicate}``."""
        message = self.enqueue(to, payload, message_id)
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
                self._pop(message)
                self._finish(message, error=exc)
                continue
            except httpx.HTTPError:
                await asyncio.sleep(Backoff(attempt=min(message.attempts, 8) - 1).next_delay())
                continue
            self._pop(message)
            self._finish(message, result=result)

    def _pop(self, message: OutgoingMessage) -> None:
        """Take ``message`` off the outbox, unless a log-out emptied it meanwhile."""
        if self._outbox and self._outbox[0] is message:
            self._outbox.popleft()

    def _finish(self, message: OutgoingMessage, *, result: dict[str, Any] | None = None,
                error: RelayRequestError | None = None) -> None:
        if error is not None:
            self._emit(ev.MESSAGE_SEND_FAILED, {"id": message.id, "to": message.to, "reason": str(error)})
            if message.future is not None and not message.future.done():
                message.future.set_exception(error)
            return
        assert result is not None
        self._emit(ev.MESSAGE_SENT, {"id": message.id, "to": message.to, "relay_id": result.get("relayId"),
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
            except httpx.TransportError as exc:
                if not idempotent and not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
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
