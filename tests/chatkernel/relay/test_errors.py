"""One error base for the package; every refusal carries its status, code and fields."""

from __future__ import annotations

import pytest

from chatkernel import relay
from chatkernel.relay import (
    AuthenticationError,
    BodyTooLargeError,
    ConfigError,
    ConflictError,
    CursorAheadError,
    ForbiddenError,
    InvalidFieldError,
    InvalidJSONError,
    MailboxFullError,
    PollCapacityError,
    RateLimitedError,
    RelayError,
    RequestError,
    StoreError,
    StoreSpecError,
)


def test_every_exported_error_derives_from_relay_error() -> None:
    errors = [getattr(relay, n) for n in relay.__all__ if n.endswith("Error")]
    assert errors and all(issubclass(e, RelayError) for e in errors)


def test_hierarchy_is_drawn_in_the_docstring() -> None:
    doc = relay._errors.__doc__ or ""
    for name in relay.__all__:
        if name.endswith("Error"):
            assert name in doc, name


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (BodyTooLargeError(10), 413, {"error": "body_too_large", "limit": 10}),
        (InvalidJSONError("bad"), 422, {"error": "invalid_json"}),
        (InvalidFieldError("to", "bad"), 422, {"error": "invalid_field", "field": "to"}),
        (CursorAheadError("9"), 422, {"error": "invalid_field", "field": "since", "reason": "cursor_ahead"}),
        (AuthenticationError("invalid_token", "x"), 401, {"error": "invalid_token"}),
        (ForbiddenError("from", "x"), 403, {"error": "forbidden", "field": "from"}),
        (ConflictError("key_conflict", "publicKey", "x"), 409, {"error": "key_conflict", "field": "publicKey"}),
        (RateLimitedError("user", 0.25), 429, {"error": "rate_limited", "scope": "user", "retryAfter": 0.25}),
        (PollCapacityError(5), 503, {"error": "too_many_polls"}),
        (MailboxFullError("b" * 32, 3), 507, {"error": "mailbox_full", "limit": 3}),
    ],
)
def test_request_errors_render_structured_bodies(error: RequestError, status: int, body: dict) -> None:
    assert isinstance(error, RequestError) and error.status == status
    rendered = error.body()
    assert rendered["detail"] == error.detail and isinstance(rendered["detail"], str)
    assert body.items() <= rendered.items()


def test_retry_after_headers_are_whole_seconds_at_least_one() -> None:
    assert RateLimitedError("user", 0.01).headers() == {"Retry-After": "1"}
    assert RateLimitedError("user", 2.2).headers() == {"Retry-After": "3"}
    assert PollCapacityError(1).headers() == {"Retry-After": "1"}
    assert AuthenticationError("missing_token", "x").headers() == {"WWW-Authenticate": "Bearer"}


def test_config_and_store_errors_carry_fields() -> None:
    spec = StoreSpecError("nope", "unknown")
    assert isinstance(spec, ConfigError) and spec.spec == "nope" and spec.field == "store"
    failure = StoreError("boom at redis://:pw@host", backend="redis")
    assert failure.backend == "redis" and failure.status == 503
    assert "pw" not in str(failure.body())
