"""What each endpoint does, apart from HTTP: identity proof, tokens, long polls, sends, and
the X3DH key directory (signed prekey and one-time prekeys per user).

The caller's identity always comes from the bearer token; body fields that name a user are
only checked against it (the seed trusted them, which let anyone drain any mailbox).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._config import RelayConfig
from ._errors import (
    BAD_SIGNATURE,
    ID_CONFLICT,
    INVALID_TOKEN,
    KEY_CONFLICT,
    MISSING_TOKEN,
    NO_PREKEYS,
    REPLAYED_REQUEST,
    STALE_TIMESTAMP,
    UNKNOWN_USER,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidFieldError,
    NoPrekeysError,
    PollCapacityError,
    PrekeySignatureError,
    RateLimitedError,
)
from ._stores import Listener, MailboxStore, StoredEvent
from ._stores._base import OneTimePrekey, SignedPrekey
from ._validation import (
    REQUEST_FIELDS,
    array_field,
    b64_field,
    cursor_field,
    int_field,
    message_id_field,
    object_field,
    only_fields,
    optional_user_id_field,
    payload_field,
    timeout_field,
    user_id_field,
)
from .protocol import (
    PREKEY_ID_MAX,
    b64url_decode,
    b64url_encode,
    derive_user_id,
    is_user_id,
    now_ms,
    verify_connect_signature,
    verify_signed_prekey,
)

__all__ = ["RelayService", "Session", "hash_token"]

log = logging.getLogger("chatkernel.relay")

_MAX_TOKEN_CHARS = 512


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated caller. Holds the token's hash, never the token."""

    user: str
    token_hash: str


class RelayService:
    def __init__(self, store: MailboxStore, config: RelayConfig, *, clock_ms: Callable[[], int] = now_ms):
        self.store = store
        self.config = config
        self._clock_ms = clock_ms
        # From the store: a store several relay processes share counts each limit once for all.
        table = config.rate_table_size
        self._users = store.rate_limiter("user", config.rate_per_user, config.burst_per_user, max_keys=table)
        self._addresses = store.rate_limiter(
            "address", config.rate_per_address, config.burst_per_address, max_keys=table
        )
        self._parked: set[Listener] = set()
        self._closing = False

    @property
    def parked(self) -> int:
        """Polls parked on this node right now."""
        return len(self._parked)

    # Limits ------------------------------------------------------------------------------
    # Each request is charged once: to its user when its token is valid, else to its address.
    # Behind a proxy every user shares one address, so charging a user's requests (accepted or
    # refused) to the address as well would let one flooding user lock out its neighbours.
    async def check_address(self, address: str) -> None:
        """Charge an unauthenticated request (``/connect``, a bad token) to its address."""
        retry = await self._addresses.check(address)
        if retry is not None:
            raise RateLimitedError("address", retry)

    async def check_user(self, user: str) -> None:
        retry = await self._users.check(user)
        if retry is not None:
            raise RateLimitedError("user", retry)

    async def admit(self, address: str, authorization: str | None) -> Session:
        """Authenticate a request and charge it once: a valid token to its user only; a
        missing, malformed or unknown one to ``address``, which answers 429 (scope
        ``address``) instead of 401 once that budget is spent."""
        try:
            session = await self.authenticate(authorization)
        except AuthenticationError:
            await self.check_address(address)
            raise
        await self.check_user(session.user)
        return session

    # Identity ----------------------------------------------------------------------------
    async def authenticate(self, authorization: str | None) -> Session:
        if not authorization:
            raise AuthenticationError(MISSING_TOKEN, "an Authorization: Bearer token is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
            raise AuthenticationError(INVALID_TOKEN, "the Authorization header must be 'Bearer <token>'")
        token_hash = hash_token(token)
        user = await self.store.token_user(token_hash, self._clock_ms())
        if user is None:
            raise AuthenticationError(INVALID_TOKEN, "the token is unknown, revoked or expired")
        return Session(user, token_hash)

    async def connect(self, body: dict[str, Any]) -> dict[str, Any]:
        only_fields(body, REQUEST_FIELDS["/connect"])
        user_id = user_id_field(body, "userId")
        public_key = object_field(body, "publicKey")
        only_fields(public_key, REQUEST_FIELDS["/connect publicKey"], path="publicKey")
        signing = b64_field(public_key, "signing", length=32, path="publicKey.signing")
        exchange = b64_field(public_key, "exchange", length=32, path="publicKey.exchange")
        ts = int_field(body, "ts")
        signature = b64_field(body, "sig", length=64)
        if derive_user_id(signing, exchange) != user_id:
            raise InvalidFieldError("userId", "userId is not derived from publicKey")
        now = self._clock_ms()
        window = int(self.config.connect_window * 1000)
        if abs(now - ts) > window:
            raise AuthenticationError(STALE_TIMESTAMP, "ts is not within the relay's clock window")
        if not verify_connect_signature(signing, user_id, ts, signature):
            raise AuthenticationError(BAD_SIGNATURE, "sig does not verify for this userId, ts and key")
        # Keyed by (user, ts), not by signature bytes, so a re-encoded signature is a replay too.
        proof = hashlib.sha256(f"{user_id}:{ts}".encode()).hexdigest()
        if not await self.store.remember_proof(proof, ts + window + 1000, now):
            raise AuthenticationError(REPLAYED_REQUEST, "this (ts, sig) was already used; sign a fresh ts")
        if not await self.store.bind_key(user_id, f"{b64url_encode(signing)}.{b64url_encode(exchange)}"):
            raise ConflictError(KEY_CONFLICT, "publicKey", "this userId is bound to another key")
        token = secrets.token_urlsafe(32)
        expires_at = now + int(self.config.token_ttl * 1000)
        await self.store.put_token(hash_token(token), user_id, expires_at)
        log.info("connected user %s", user_id)
        return {"token": token, "expiresAt": expires_at}

    async def disconnect(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        only_fields(body, REQUEST_FIELDS["/disconnect"])
        claimed = optional_user_id_field(body, "userId")
        if claimed is not None and claimed != session.user:
            raise ForbiddenError("userId", "userId is not the token's user")
        await self.store.revoke_token(session.token_hash)
        await self.store.notify(session.user, "revoke")
        log.info("disconnected user %s", session.user)
        return {"ok": True}

    # Messages ----------------------------------------------------------------------------
    async def send(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        only_fields(body, REQUEST_FIELDS["/send"])
        if user_id_field(body, "from") != session.user:
            raise ForbiddenError("from", "from is not the token's user")
        to = user_id_field(body, "to")
        msg_id = message_id_field(body, "id")
        payload = payload_field(body, "payload")
        now = self._clock_ms()
        result = await self.store.append(
            to=to,
            sender=session.user,
            msg_id=msg_id,
            payload=payload,
            ts=now,
            max_len=self.config.mailbox_max_len,
            dedup_until=now + int(self.config.dedup_ttl * 1000),
        )
        if result.duplicate and result.to != to:
            raise ConflictError(ID_CONFLICT, "id", "this id was already used for a message to another user")
        return {"id": msg_id, "relayId": result.relay_id, "duplicate": result.duplicate}

    async def poll(self, session: Session, body: dict[str, Any]) -> list[StoredEvent]:
        user = session.user
        only_fields(body, REQUEST_FIELDS["/poll"])
        if user_id_field(body, "userId") != user:
            raise ForbiddenError("userId", "userId is not the token's user")
        since = cursor_field(body, "since", self.store)
        timeout = timeout_field(
            body, "timeout", default=self.config.poll_default_timeout, maximum=self.config.poll_max_timeout
        )
        if since is not None:
            await self.store.ack(user, since)
        stamp = (time.time_ns(), secrets.token_hex(8))
        with self.store.listen(user) as listener:
            # Announce this poll first: an older poll parked anywhere answers [] at once.
            await self.store.notify(user, f"poll {stamp[0]}:{stamp[1]}")
            events = await self._read(user, since)
            if events or timeout <= 0 or self._closing:
                return events
            if len(self._parked) >= self.config.max_parked_polls:
                raise PollCapacityError(self.config.max_parked_polls)
            self._parked.add(listener)
            try:
                return await self._park(listener, user, since, timeout, stamp)
            finally:
                self._parked.discard(listener)

    async def _park(
        self, listener: Listener, user: str, since: str | None, timeout: float, stamp: tuple[int, str]
    ) -> list[StoredEvent]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reason = await listener.wait(deadline - loop.time())
            if reason is None or reason in ("revoke", "shutdown"):
                return []
            if reason.startswith("poll "):
                if _poll_stamp(reason) > stamp:
                    return []
                continue
            events = await self._read(user, since)  # "message", "resync": look again
            if events:
                return events

    async def _read(self, user: str, since: str | None) -> list[StoredEvent]:
        return await self.store.read(
            user, since, limit=self.config.poll_max_events, max_bytes=self.config.poll_max_bytes
        )

    # Key directory -----------------------------------------------------------------------
    async def upload_prekeys(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /keys``. The signed prekey is verified here, with the identity key bound at
        /connect, so a bundle the relay hands out always verified once; initiators check it
        again, since they need not trust the relay."""
        only_fields(body, REQUEST_FIELDS["/keys"])
        if user_id_field(body, "userId") != session.user:
            raise ForbiddenError("userId", "userId is not the token's user")
        uploaded = self._signed_prekey(object_field(body, "signedPrekey")) if "signedPrekey" in body else None
        one_time = self._one_time_prekeys(body) if "oneTimePrekeys" in body else []
        signed = None
        if uploaded is not None:
            signed, raw_key, raw_sig = uploaded
            bound = await self.store.get_key(session.user)
            if bound is None:  # a token outlived its user's record (a store restored from a backup)
                raise AuthenticationError(INVALID_TOKEN, "no identity key is bound to this token's user; connect again")
            signing_pub = b64url_decode(bound.partition(".")[0])
            if not verify_signed_prekey(signing_pub, signed.id, raw_key, raw_sig):
                raise PrekeySignatureError(
                    "signedPrekey.sig", "signedPrekey.sig does not verify with the signing key bound to this user "
                    "over SIGNED_PREKEY_TAG + id (4 bytes, big-endian) + key")
        state = await self.store.put_prekeys(session.user, signed, one_time, max_total=self.config.prekey_max_per_user)
        answer: dict[str, Any] = {"oneTimePrekeys": state.one_time, "accepted": state.accepted}
        if state.signed_prekey_id is not None:
            answer["signedPrekeyId"] = state.signed_prekey_id
        return answer

    @staticmethod
    def _signed_prekey(value: dict[str, Any]) -> tuple[SignedPrekey, bytes, bytes]:
        only_fields(value, REQUEST_FIELDS["/keys signedPrekey"], path="signedPrekey")
        prekey_id = int_field(value, "id", maximum=PREKEY_ID_MAX, path="signedPrekey.id")
        key = b64_field(value, "key", length=32, path="signedPrekey.key")
        sig = b64_field(value, "sig", length=64, path="signedPrekey.sig")
        return SignedPrekey(prekey_id, b64url_encode(key), b64url_encode(sig)), key, sig

    def _one_time_prekeys(self, body: dict[str, Any]) -> list[OneTimePrekey]:
        items = array_field(body, "oneTimePrekeys", max_items=self.config.prekey_batch_max)
        seen: dict[int, int] = {}
        keys = []
        for index, item in enumerate(items):
            path = f"oneTimePrekeys[{index}]"
            if not isinstance(item, dict):
                raise InvalidFieldError(path, f"{path} must be an object {{id, key}}")
            only_fields(item, REQUEST_FIELDS["/keys oneTimePrekeys[]"], path=path)
            prekey_id = int_field(item, "id", maximum=PREKEY_ID_MAX, path=f"{path}.id")
            if prekey_id in seen:
                raise InvalidFieldError(f"{path}.id", f"{path}.id repeats oneTimePrekeys[{seen[prekey_id]}].id")
            seen[prekey_id] = index
            key = b64_field(item, "key", length=32, path=f"{path}.key")
            keys.append(OneTimePrekey(prekey_id, b64url_encode(key)))
        return keys

    async def fetch_prekeys(self, session: Session, user_id: str, query: list[str]) -> dict[str, Any]:
        """``GET /keys/{userId}``: one bundle, taking one one-time prekey for good."""
        unknown = sorted(set(query) - set(REQUEST_FIELDS["/keys/{userId} query"]))
        if unknown:
            raise InvalidFieldError(unknown[0][:64], "GET /keys/{userId} takes no query parameters")
        if not is_user_id(user_id):
            raise InvalidFieldError("userId", "userId in the path must be a user id (32 characters of a-z 2-7)")
        if user_id == session.user:
            # Nobody starts a session with themselves; it would only burn their own stock.
            raise ForbiddenError("userId", "a user cannot fetch its own bundle; POST /keys with only userId "
                                 "answers its own counts")
        bound = await self.store.get_key(user_id)
        if bound is None:
            raise NoPrekeysError(UNKNOWN_USER, "this user never connected to this relay")
        bundle = await self.store.take_prekeys(user_id)
        if bundle is None:
            raise NoPrekeysError(NO_PREKEYS, "this user has not uploaded a signed prekey")
        signing, _, exchange = bound.partition(".")
        answer: dict[str, Any] = {
            "userId": user_id,
            "publicKey": {"signing": signing, "exchange": exchange},
            "signedPrekey": {"id": bundle.signed.id, "key": bundle.signed.key, "sig": bundle.signed.sig},
        }
        if bundle.one_time is not None:
            answer["oneTimePrekey"] = {"id": bundle.one_time.id, "key": bundle.one_time.key}
        log.info("handed out a bundle of %s (one-time prekey: %s)", user_id, bundle.one_time is not None)
        return answer

    # Housekeeping ------------------------------------------------------------------------
    def release_parked(self) -> None:
        """Answer every parked poll with ``[]`` and park no more (the server is stopping)."""
        self._closing = True
        for listener in tuple(self._parked):
            listener.push("shutdown")

    async def purge(self) -> int:
        now = self._clock_ms()
        return await self.store.purge(before=now - int(self.config.mailbox_max_age * 1000), now=now)


def _poll_stamp(reason: str) -> tuple[int, str]:
    ns, _, nonce = reason.removeprefix("poll ").partition(":")
    try:
        return (int(ns), nonce)
    except ValueError:
        return (0, "")
