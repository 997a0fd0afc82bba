"""Errors raised by the relay.

Every error derives from :class:`RelayError` and carries structured fields. Errors that
refuse an HTTP request also carry the status and a stable error code, so the app renders
every refusal the same way (``{"error": code, "detail": ..., **fields}``) and clients act on
the code, never on the message::

    RelayError                    code, detail
    ├── ConfigError               a limit or option is invalid (field)
    │   └── StoreSpecError        a --store value cannot be understood (spec)
    ├── StoreError                a store backend failed (backend); answered 503
    └── RequestError              a request is refused (status, code, headers())
        ├── BodyTooLargeError     413 body_too_large (limit)
        ├── InvalidJSONError      422 invalid_json
        ├── InvalidFieldError     422 invalid_field (field)
        │   └── CursorAheadError  422 invalid_field, field "since", reason "cursor_ahead"
        ├── AuthenticationError   401 missing_token | invalid_token | bad_signature |
        │                             stale_timestamp | replayed_request
        ├── ForbiddenError        403 forbidden (field)
        ├── ConflictError         409 key_conflict | id_conflict (field)
        ├── RateLimitedError      429 rate_limited (scope, retry_after)
        ├── PollCapacityError     503 too_many_polls (retry_after)
        └── MailboxFullError      507 mailbox_full (limit)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BodyTooLargeError",
    "ConfigError",
    "ConflictError",
    "CursorAheadError",
    "ForbiddenError",
    "InvalidFieldError",
    "InvalidJSONError",
    "MailboxFullError",
    "PollCapacityError",
    "RateLimitedError",
    "RelayError",
    "RequestError",
    "StoreError",
    "StoreSpecError",
]


class RelayError(Exception):
    """Base class of every error the relay raises."""

    code: ClassVar[str] = "relay_error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


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

    code = "store_unavailable"
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
    code = "body_too_large"
    status = 413

    def __init__(self, limit: int):
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit

    def fields(self) -> dict[str, Any]:
        return {"limit": self.limit}


class InvalidJSONError(RequestError):
    code = "invalid_json"
    status = 422


class InvalidFieldError(RequestError):
    code = "invalid_field"
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
        return {"field": self.field, "reason": "cursor_ahead"}


class AuthenticationError(RequestError):
    status = 401

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code  # type: ignore[misc]

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class ForbiddenError(RequestError):
    code = "forbidden"
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
    code = "rate_limited"
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
    code = "too_many_polls"
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

    code = "mailbox_full"
    status = 507

    def __init__(self, user_id: str, limit: int):
        super().__init__(f"the recipient's mailbox holds {limit} undelivered messages")
        self.user_id = user_id
        self.limit = limit

    def fields(self) -> dict[str, Any]:
        return {"limit": self.limit}
