"""The relay's HTTP API as async calls: one place that knows the wire format.

Errors come back as :class:`RelayRequestError` with the relay's status and error code, and
network failures as :class:`RelayTransportError` (``sent`` says whether the request may have
reached the relay), so the caller decides what is worth a retry.

The HTTP client is aiohttp: with its C parser a request costs its process about a quarter of
httpx's CPU (0.26 against 0.96 ms, ``bench/bench_relay_client.py``), and each message is two
requests (the send and the poll that delivers it). The
key directory's refusals for good get precise subclasses (:class:`KeyUploadError`,
:class:`NoBundleError`), and a fetched bundle is checked before it is returned
(:class:`InvalidBundleError`): the relay is not trusted with the keys it serves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from chatkernel.relay.protocol import (
    NO_PREKEYS,
    PREKEY_ID_MAX,
    UNKNOWN_USER,
    RelayURLError,
    b64url_decode,
    check_relay_url,
    derive_user_id,
    is_user_id,
    verify_signed_prekey,
)

from .errors import (
    InsecureURLError,
    InvalidBundleError,
    InvalidURLError,
    KeyUploadError,
    NoBundleError,
    RelayRequestError,
    RelayTransportError,
    SignalingError,
)

__all__ = ["KEEPALIVE_S", "MAX_ANSWER_BYTES", "Answer", "RelayClient", "check_bundle", "check_url"]


def check_url(url: object, *, allow_insecure: bool = False) -> str:
    """The relay's one URL policy (``chatkernel.relay.protocol``), raised as this feature's errors."""
    try:
        return check_relay_url(url, allow_insecure_remote=allow_insecure)
    except RelayURLError as exc:
        if exc.insecure:
            raise InsecureURLError(str(url)) from None
        raise InvalidURLError(url, exc.reason) from None


#: The most a relay answer may hold; more is refused unread. The relay's own poll answers stop at
#: its ``poll_max_bytes`` (1 MiB by default): a relay that streams without end gets nowhere.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """What the relay answered one request: all the client reads of an HTTP response."""

    method: str
    path: str
    status: int
    reason: str
    body: bytes
    retry_after: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


def _error(response: Answer) -> RelayRequestError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    retry_after: float | None = None
    header = response.retry_after
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    field, reason = body.get("field"), body.get("reason")
    return RelayRequestError(response.status, str(body.get("error", "http_error")),
                             str(body.get("detail", response.reason)), retry_after=retry_after,
                             field=field if isinstance(field, str) else None,
                             reason=reason if isinstance(reason, str) else None)


def _json(response: Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        raise RelayRequestError(502, "bad_response", f"{response.method} {response.path} "
                                f"answered {response.status} without JSON") from None


def _count(answer: dict[str, Any], name: str, *, required: bool = True) -> None:
    value = answer.get(name)
    if value is None and not required and name not in answer:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RelayRequestError(502, "bad_response", f"POST /keys answered {name}={value!r}, not a count")


def _check_upload_answer(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise RelayRequestError(502, "bad_response", "POST /keys did not answer an object")
    _count(answer, "oneTimePrekeys")
    _count(answer, "accepted")
    _count(answer, "signedPrekeyId", required=False)
    return answer


def _bundle_object(value: Any, user_id: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidBundleError(user_id, field, f"must be an object, got {type(value).__name__}")
    return value


def _bundle_bytes(parent: dict[str, Any], name: str, length: int, user_id: str, field: str) -> bytes:
    if name not in parent:
        raise InvalidBundleError(user_id, f"{field}.{name}", "is missing")
    value = parent[name]
    try:
        raw = b64url_decode(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidBundleError(user_id, f"{field}.{name}", str(exc)) from None
    if len(raw) != length:
        raise InvalidBundleError(user_id, f"{field}.{name}", f"must be {length} bytes, got {len(raw)}")
    return raw


def _bundle_id(parent: dict[str, Any], user_id: str, field: str) -> int:
    if "id" not in parent:
        raise InvalidBundleError(user_id, f"{field}.id", "is missing")
    value = parent["id"]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= PREKEY_ID_MAX:
        raise InvalidBundleError(user_id, f"{field}.id", f"must be an integer from 0 to {PREKEY_ID_MAX}, got {value!r}")
    return value


def check_bundle(answer: Any, user_id: str) -> dict[str, Any]:
    """The bundle ``GET /keys/{user_id}`` answered, refused with :class:`InvalidBundleError`
    unless it is ``user_id``'s, its keys are well formed, ``publicKey`` derives ``userId`` and
    ``signedPrekey.sig`` verifies with ``publicKey.signing`` (protocol.verify_signed_prekey).

    Returns a fresh object of exactly the fields checked (fields a later relay may add are
    dropped): ``{"userId", "publicKey": {"signing", "exchange"}, "signedPrekey": {"id", "key",
    "sig"}, "oneTimePrekey"?: {"id", "key"}}``, keys as unpadded base64url.
    """
    bundle = _bundle_object(answer, user_id, "bundle")
    if bundle.get("userId") != user_id:
        raise InvalidBundleError(user_id, "userId", f"the relay answered the bundle of {bundle.get('userId')!r}")
    public = _bundle_object(bundle.get("publicKey"), user_id, "publicKey")
    signing = _bundle_bytes(public, "signing", 32, user_id, "publicKey")
    exchange = _bundle_bytes(public, "exchange", 32, user_id, "publicKey")
    if derive_user_id(signing, exchange) != user_id:
        raise InvalidBundleError(user_id, "publicKey", "these keys do not derive the user id")
    signed = _bundle_object(bundle.get("signedPrekey"), user_id, "signedPrekey")
    signed_id = _bundle_id(signed, user_id, "signedPrekey")
    signed_key = _bundle_bytes(signed, "key", 32, user_id, "signedPrekey")
    signature = _bundle_bytes(signed, "sig", 64, user_id, "signedPrekey")
    if not verify_signed_prekey(signing, signed_id, signed_key, signature):
        raise InvalidBundleError(user_id, "signedPrekey.sig", "does not verify with publicKey.signing over "
                                 "SIGNED_PREKEY_TAG + id + key")
    checked: dict[str, Any] = {
        "userId": user_id,
        "publicKey": {"signing": public["signing"], "exchange": public["exchange"]},
        "signedPrekey": {"id": signed_id, "key": signed["key"], "sig": signed["sig"]},
    }
    if "oneTimePrekey" in bundle:
        one_time = _bundle_object(bundle["oneTimePrekey"], user_id, "oneTimePrekey")
        one_time_id = _bundle_id(one_time, user_id, "oneTimePrekey")
        _bundle_bytes(one_time, "key", 32, user_id, "oneTimePrekey")
        checked["oneTimePrekey"] = {"id": one_time_id, "key": one_time["key"]}
    return checked


#: How long an idle keep-alive connection is reused: below the relay's ``idle_timeout`` (5 s).
KEEPALIVE_S = 3.0


#: How a request goes out: (method, path, JSON body or None, headers, timeout in seconds) -> the
#: answer, or :class:`RelayTransportError`. Tests replace it to script a relay that misbehaves on cue.
Transport = Callable[[str, str, bytes | None, dict[str, str], float], Awaitable[Answer]]


class RelayClient:
    """A thin async client of one relay; it holds the bearer token once connected."""

    def __init__(self, url: str, *, allow_insecure: bool = False, request_timeout: float = 10.0):
        self.url = check_url(url, allow_insecure=allow_insecure)
        self.token: str | None = None
        self.request_timeout = request_timeout
        self._base = self.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None  # made at the first request, inside the loop
        self._closed = False
        self.transport: Transport = self._aiohttp

    async def _aiohttp(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                       timeout: float) -> Answer:
        if self._closed:  # a poll still running when the connection was dropped: no new session
            raise RelayTransportError(method, path, "the client was closed", sent=False)
        if self._session is None:
            # An idle connection is dropped here before the relay's idle timeout (5 s by default)
            # closes it, so a request never goes out on a connection the relay is closing: a fetch
            # of a bundle (not retried: it may take a one-time prekey) would fail for nothing.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=KEEPALIVE_S),
                skip_auto_headers=("User-Agent",), auto_decompress=False)
        try:
            async with self._session.request(method, self._base + path, data=body, headers=headers,
                                             allow_redirects=False,
                                             timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                length = response.content_length
                if length is not None and length > MAX_ANSWER_BYTES:
                    raise RelayRequestError(502, "bad_response", f"{method} {path} answered {length} bytes, "
                                            f"more than the {MAX_ANSWER_BYTES} a relay answer may hold")
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise RelayRequestError(502, "bad_response", f"{method} {path} answered more than the "
                                                f"{MAX_ANSWER_BYTES} bytes a relay answer may hold")
                    chunks.append(chunk)
                return Answer(method, path, response.status, response.reason or "", b"".join(chunks),
                              response.headers.get("retry-after"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise RelayTransportError(method, path, _cause(exc), sent=False) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise RelayTransportError(method, path, _cause(exc), sent=True) from None

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                       timeout: float | None = None) -> Answer:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        return await self.transport(method, path, data, headers,
                                    self.request_timeout if timeout is None else timeout)

    async def _post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> Any:
        response = await self._request("POST", path, body, timeout=timeout)
        if response.status >= 400:
            raise _error(response)
        return _json(response)

    async def health(self) -> dict[str, Any]:
        response = await self._request("GET", "/health")
        if response.status >= 400:
            raise _error(response)
        return _json(response)  # type: ignore[no-any-return]

    async def connect(self, body: dict[str, Any]) -> str:
        answer = await self._post("/connect", body)
        self.token = str(answer["token"])
        return self.token

    async def poll(self, user_id: str, since: str | None, timeout: float) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"userId": user_id, "timeout": timeout}
        if since is not None:
            body["since"] = since
        events = await self._post("/poll", body, timeout=timeout + 10.0)
        if not isinstance(events, list):
            raise RelayRequestError(502, "bad_response", "poll did not answer a list")
        return events

    async def send(self, sender: str, to: str, message_id: str, payload: Any) -> dict[str, Any]:
        return await self._post("/send", {"from": sender, "to": to, "id": message_id, "payload": payload})  # type: ignore[no-any-return]

    async def upload_keys(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /keys``: ``{"oneTimePrekeys", "accepted", "signedPrekeyId"?}``.

        A refusal for good (any 4xx but 401, 408 and 429) is :class:`KeyUploadError` with the
        relay's ``code``, ``detail`` and ``field``; 401, 408, 429 and 5xx stay
        :class:`RelayRequestError` for the caller to reconnect or retry."""
        if not isinstance(body, dict):
            raise SignalingError(f"a key upload is a JSON object, got {type(body).__name__}")
        try:
            answer = await self._post("/keys", body)
        except RelayRequestError as exc:
            if 400 <= exc.status < 500 and exc.status not in (401, 408, 429):
                raise KeyUploadError.from_error(exc) from None
            raise
        return _check_upload_answer(answer)

    async def fetch_bundle(self, user_id: str) -> dict[str, Any]:
        """``GET /keys/{userId}``: the user's bundle, checked (see :func:`check_bundle`), taking
        one of its one-time prekeys for good. 404 ``unknown_user`` / ``no_prekeys`` is
        :class:`NoBundleError`; other refusals stay :class:`RelayRequestError`."""
        if not is_user_id(user_id):
            raise SignalingError(f"a bundle is fetched by user id (32 characters of a-z 2-7), got {user_id!r}")
        response = await self._request("GET", f"/keys/{user_id}")
        if response.status >= 400:
            error = _error(response)
            if error.status == 404 and error.code in (UNKNOWN_USER, NO_PREKEYS):
                raise NoBundleError.from_error(error, user_id=user_id) from None
            raise error
        return check_bundle(_json(response), user_id)

    async def disconnect(self, user_id: str) -> None:
        if self.token is None:
            return
        try:
            await self._post("/disconnect", {"userId": user_id})
        finally:
            self.token = None

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _cause(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
