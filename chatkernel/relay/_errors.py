"""Errors raised by the relay.

Every error derives from :class:`RelayError` and carries structured fields. Errors that
refuse an HTTP request also carry the status and a stable error code, so the app renders
every refusal the same way (``{"error": code, "detail": ..., **fields}``) and clients act on
the code, never on the message. The codes are the constants below, re-exported by
:mod:`chatkernel.relay.protocol` for clients (this module imports nothing of the server)::

    RelayError                    code, detail
    ├── RelayURLError             a relay URL fails check_relay_url (url, reason, insecure);
    │                             also a ValueError; raised by clients, never answered
    ├── ConfigError               a limit or option is invalid (field)
    │   └── StoreSpecError        a --store value cannot be understood (spec)
    ├── StoreError                a store backend failed (backend); answered 503
    └── RequestError              a request is refused (status, code, headers())
        ├── BodyTooLargeError     413 body_too_large (limit)
        ├── InvalidJSONError      422 invalid_json (field and reason when the text is JSON
        │                             but not I-JSON: lone_surrogate | duplicate_key |
        │                             unsafe_integer | non_finite_number; reason alone:
        │                             invalid_utf8 | bom)
        ├── InvalidFieldError     422 invalid_field (field)
        │   ├── CursorAheadError  422 invalid_field, field "since", reason "cursor_ahead"
        │   └── PrekeySignatureError  422 bad_prekey_signature (field)
        ├── TooManyPrekeysError   422 too_many_prekeys (field, limit)
        ├── AuthenticationError   401 missing_token | invalid_token | bad_signature |
        │                             stale_timestamp | replayed_request
        ├── ForbiddenError        403 forbidden (field)
        ├── NoPrekeysError        404 unknown_user | no_prekeys (field)
        ├── ConflictError         409 key_conflict | id_conflict | stale_prekey (field)
        ├── RateLimitedError      429 rate_limited (scope, retry_after)
        ├── PollCapacityError     503 too_many_polls (retry_after)
        └── MailboxFullError      507 mailbox_full (limit)

Two refusals happen before a request reaches the app, in the connection layer
(``_connection.py``), and close the connection: 431 ``headers_too_large`` and 503
``too_many_connections``; a request whose headers or body do not arrive in time gets 408
``request_timeout``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BAD_PREKEY_SIGNATURE",
    "BAD_SIGNATURE",
    "BODY_TOO_LARGE",
    "BodyTooLargeError",
    "CURSOR_AHEAD",
    "ConfigError",
    "ConflictError",
    "CursorAheadError",
    "ERROR_CODES",
    "FORBIDDEN",
    "ForbiddenError",
    "HEADERS_TOO_LARGE",
    "HTTP_ERROR",
    "ID_CONFLICT",
    "INTERNAL_ERROR",
    "INVALID_FIELD",
    "INVALID_JSON",
    "INVALID_TOKEN",
    "InvalidFieldError",
    "InvalidJSONError",
    "KEY_CONFLICT",
    "MAILBOX_FULL",
    "METHOD_NOT_ALLOWED",
    "MISSING_TOKEN",
    "MailboxFullError",
    "NOT_FOUND",
    "NO_PREKEYS",
    "NoPrekeysError",
    "PollCapacityError",
    "PrekeySignatureError",
    "RATE_LIMITED",
    "REPLAYED_REQUEST",
    "REQUEST_TIMEOUT",
    "RateLimitedError",
    "RelayError",
    "RelayURLError",
    "RequestError",
    "STALE_PREKEY",
    "STALE_TIMESTAMP",
    "STORE_UNAVAILABLE",
    "StoreError",
    "StoreSpecError",
    "TOO_MANY_CONNECTIONS",
    "TOO_MANY_POLLS",
    "TOO_MANY_PREKEYS",
    "TooManyPrekeysError",
    "UNKNOWN_USER",
]

# The ``error`` codes the relay answers, by status. Clients act on these, never on ``detail``.
BODY_TOO_LARGE = "body_too_large"  # 413
INVALID_JSON = "invalid_json"  # 422
INVALID_FIELD = "invalid_field"  # 422, with ``field``
MISSING_TOKEN = "missing_token"  # 401
INVALID_TOKEN = "invalid_token"  # 401: malformed, unknown, revoked or expired
BAD_SIGNATURE = "bad_signature"  # 401
STALE_TIMESTAMP = "stale_timestamp"  # 401
REPLAYED_REQUEST = "replayed_request"  # 401
FORBIDDEN = "forbidden"  # 403, with ``field``
NOT_FOUND = "not_found"  # 404
METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
KEY_CONFLICT = "key_conflict"  # 409, with ``field``
ID_CONFLICT = "id_conflict"  # 409, with ``field``
RATE_LIMITED = "rate_limited"  # 429, with ``scope`` and ``retryAfter``
INTERNAL_ERROR = "internal_error"  # 500
TOO_MANY_POLLS = "too_many_polls"  # 503, with ``retryAfter``
TOO_MANY_CONNECTIONS = "too_many_connections"  # 503, connection closed
HEADERS_TOO_LARGE = "headers_too_large"  # 431, with ``limit``, connection closed
REQUEST_TIMEOUT = "request_timeout"  # 408, connection closed
STORE_UNAVAILABLE = "store_unavailable"  # 503
MAILBOX_FULL = "mailbox_full"  # 507, with ``limit``
HTTP_ERROR = "http_error"  # any other HTTP-level refusal
# The key directory (POST /keys, GET /keys/{userId}).
BAD_PREKEY_SIGNATURE = "bad_prekey_signature"  # 422, with ``field``
TOO_MANY_PREKEYS = "too_many_prekeys"  # 422, with ``field`` and ``limit``
STALE_PREKEY = "stale_prekey"  # 409, with ``field``
UNKNOWN_USER = "unknown_user"  # 404, with ``field``
NO_PREKEYS = "no_prekeys"  # 404, with ``field``
ERROR_CODES = frozenset({
    BAD_PREKEY_SIGNATURE, BAD_SIGNATURE, BODY_TOO_LARGE, FORBIDDEN, HEADERS_TOO_LARGE, HTTP_ERROR, ID_CONFLICT,
    INTERNAL_ERROR, INVALID_FIELD, INVALID_JSON, INVALID_TOKEN, KEY_CONFLICT, MAILBOX_FULL, METHOD_NOT_ALLOWED,
    MISSING_TOKEN, NOT_FOUND, NO_PREKEYS, RATE_LIMITED, REPLAYED_REQUEST, REQUEST_TIMEOUT, STALE_PREKEY,
    STALE_TIMESTAMP, STORE_UNAVAILABLE, TOO_MANY_CONNECTIONS, TOO_MANY_POLLS, TOO_MANY_PREKEYS, UNKNOWN_USER,
})
# Not an ``error`` code but the ``reason`` of an ``invalid_field`` refusal of ``since``.
CURSOR_AHEAD = "cursor_ahead"


class RelayError(Exception):
    """Base class of every error the relay raises."""

    code: ClassVar[str] = "relay_error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class RelayURLError(RelayError, ValueError):
    """A URL that a client must not use as a relay. ``insecure`` is true when the only problem
    is plain ``http://`` to a non-loopback host, which ``allow_insecure_remote`` would permit."""

    code = "invalid_relay_url"

    def __init__(self, url: object, reason: str, *, insecure: bool = False):
        super().__init__(f"invalid relay URL {url!r}: {reason}")
        self.url = url
        self.reason = reason
        self.insecure = insecure


class ConfigError(RelayError):
    code = "invalid_config"

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.field = field


class StoreSpecError(ConfigError):
    code = "invalid_store"

    def __init__(self, spec: str, detail: str):
        super().__init__(f"invalid store {spec!r}: {detail}", field="store")
        self.spec = spec


class StoreError(RelayError):
    """A backend failure; the request may succeed when retried, so it is answered 503."""

    code = STORE_UNAVAILABLE
    status: ClassVar[int] = 503

    def __init__(self, detail: str, *, backend: str):
        super().__init__(detail)
        self.backend = backend

    def body(self) -> dict[str, Any]:
        # The backend's own message may name hosts or paths: keep it in the logs only.
        return {"error": self.code, "detail": "the message store is unavailable; retry later"}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class RequestError(RelayError):
    """A refusal of one request, rendered as a JSON body with ``status``."""

    status: ClassVar[int] = 400

    def fields(self) -> dict[str, Any]:
        return {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.fields()}

    def headers(self) -> dict[str, str]:
        return {}


class BodyTooLargeError(RequestError):
    code = BODY_TOO_LARGE
    status = 413

    def __init__(self, limit: int):
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit

    def fields(self) -> dict[str, Any]:
        return {"limit": self.limit}


class InvalidJSONError(RequestError):
    """Not JSON, not an object, or JSON that is not I-JSON (RFC 7493): then ``field`` is the
    path of the offending value (``payload.items[2]``) and ``reason`` says what is wrong."""

    code = INVALID_JSON
    status = 422

    def __init__(self, detail: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(detail)
        self.field = field
        self.reason = reason

    def fields(self) -> dict[str, Any]:
        found = {"field": self.field, "reason": self.reason}
        return {k: v for k, v in found.items() if v is not None}


class InvalidFieldError(RequestError):
    code = INVALID_FIELD
    status = 422

    def __init__(self, field: str, detail: str):
        super().__init__(detail)
        self.field = field

    def fields(self) -> dict[str, Any]:
        return {"field": self.field}


class CursorAheadError(InvalidFieldError):
    """``since`` is past the newest id of the mailbox: acknowledging it would swallow future
    messages (typically after an in-memory relay restarted). The client polls without it."""

    def __init__(self, cursor: str):
        super().__init__("since", f"cursor {cursor!r} is ahead of this mailbox; poll again without 'since'")
        self.cursor = cursor

    def fields(self) -> dict[str, Any]:
        return {"field": self.field, "reason": CURSOR_AHEAD}


class PrekeySignatureError(InvalidFieldError):
    """A signed prekey whose signature does not verify with the uploader's identity key: 422,
    not 401, because the caller is authenticated; the bundle is what is wrong."""

    code = BAD_PREKEY_SIGNATURE


class TooManyPrekeysError(RequestError):
    """Storing the upload would exceed the per-user total of one-time prekeys; nothing stored."""

    code = TOO_MANY_PREKEYS
    status = 422

    def __init__(self, limit: int, stored: int):
        super().__init__(f"the relay keeps at most {limit} one-time prekeys per user and holds {stored}")
        self.field = "oneTimePrekeys"
        self.limit = limit
        self.stored = stored

    def fields(self) -> dict[str, Any]:
        return {"field": self.field, "limit": self.limit}


class NoPrekeysError(RequestError):
    """No bundle to hand out: the user never connected here (``unknown_user``) or has not
    uploaded a signed prekey (``no_prekeys``)."""

    status = 404

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code  # type: ignore[misc]
        self.field = "userId"

    def fields(self) -> dict[str, Any]:
        return {"field": self.field}


class AuthenticationError(RequestError):
    status = 401

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code  # type: ignore[misc]

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class ForbiddenError(RequestError):
    code = FORBIDDEN
    status = 403

    def __init__(self, field: str, detail: str):
        super().__init__(detail)
        self.field = field

    def fields(self) -> dict[str, Any]:
        return {"field": self.field}


class ConflictError(RequestError):
    status = 409

    def __init__(self, code: str, field: str, detail: str):
        super().__init__(detail)
        self.code = code  # type: ignore[misc]
        self.field = field

    def fields(self) -> dict[str, Any]:
        return {"field": self.field}


def _retry_header(retry_after: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(retry_after)))}


class RateLimitedError(RequestError):
    code = RATE_LIMITED
    status = 429

    def __init__(self, scope: str, retry_after: float):
        super().__init__(f"too many requests for this {scope}; retry after {retry_after:.2f} s")
        self.scope = scope
        self.retry_after = retry_after

    def fields(self) -> dict[str, Any]:
        return {"scope": self.scope, "retryAfter": round(self.retry_after, 3)}

    def headers(self) -> dict[str, str]:
        return _retry_header(self.retry_after)


class PollCapacityError(RequestError):
    code = TOO_MANY_POLLS
    status = 503

    def __init__(self, limit: int, retry_after: float = 1.0):
        super().__init__(f"the relay already holds {limit} parked polls; retry later")
        self.limit = limit
        self.retry_after = retry_after

    def fields(self) -> dict[str, Any]:
        return {"retryAfter": self.retry_after}

    def headers(self) -> dict[str, str]:
        return _retry_header(self.retry_after)


class MailboxFullError(RequestError):
    """The recipient's mailbox is at its cap. 507 (not 429): the sender is not at fault and
    retrying soon will not help until the recipient polls."""

    code = MAILBOX_FULL
    status = 507

    def __init__(self, user_id: str, limit: int):
        super().__init__(f"the recipient's mailbox holds {limit} undelivered messages")
        self.user_id = user_id
        self.limit = limit

    def fields(self) -> dict[str, Any]:
        return {"limit": self.limit}
