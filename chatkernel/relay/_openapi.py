"""The relay's OpenAPI 3.1 document, written by hand so it states the contract, not the code.

``tests/chatkernel/relay/test_openapi.py`` checks it against the routes and validates real
answers against these schemas.
"""

from __future__ import annotations

import copy
from typing import Any

from .._version import __version__
from .protocol import MESSAGE_ID_PATTERN, SERVICE_NAME, USER_ID_PATTERN

__all__ = ["openapi_document"]

_USER_ID = {"type": "string", "pattern": USER_ID_PATTERN, "description": "Lower-case base32 "
            "of SHA-256 over a domain tag and both public keys, truncated to 32 characters."}
_B64_32 = {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}=?$", "description": "base64url of 32 raw bytes"}
_RELAY_ID = {"type": "string", "description": "Opaque, strictly increasing within a mailbox; usable as `since`."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}

_ERRORS: dict[str, dict[str, Any]] = {
    "401": _json(_ref("Error"), "missing_token, invalid_token (unknown, revoked or expired), bad_signature, "
                 "stale_timestamp or replayed_request."),
    "403": _json(_ref("Error"), "forbidden: a body field names a user other than the token's (`field`)."),
    "409": _json(_ref("Error"), "key_conflict (userId bound to another key) or id_conflict (client id reused "
                 "for another recipient)."),
    "413": _json(_ref("Error"), "body_too_large: over the body limit (64 KiB by default); refused before reading."),
    "422": _json(_ref("Error"), "invalid_json, or invalid_field naming the `field` (`reason: cursor_ahead` when "
                 "`since` is past the mailbox: poll again without it)."),
    "429": _json(_ref("Error"), "rate_limited per user or per client address (`scope`).", _RETRY_AFTER),
    "500": _json(_ref("Error"), "internal_error: unexpected failure; no details are disclosed."),
    "503": _json(_ref("Error"), "too_many_polls (the global cap on parked polls) or store_unavailable.",
                 _RETRY_AFTER),
    "507": _json(_ref("Error"), "mailbox_full: the recipient holds the maximum of undelivered messages."),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _ERRORS[code] for code in codes}


def _post(summary: str, request: str, answer: dict[str, Any], errors: tuple[str, ...], *, auth: bool = True,
          required: bool = True) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "requestBody": {"required": required, "content": {"application/json": {"schema": _ref(request)}}},
        "responses": {"200": answer, **_errors(*errors, "500")},
    }
    operation["security"] = [{"bearer": []}] if auth else []
    return operation


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "Stable machine-readable code."},
            "detail": {"type": "string", "description": "Human-readable explanation."},
            "field": {"type": "string"},
            "reason": {"type": "string"},
            "scope": {"type": "string", "enum": ["user", "address"]},
            "retryAfter": {"type": "number"},
            "limit": {"type": "integer"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["service", "version"],
        "properties": {"service": {"const": SERVICE_NAME}, "version": {"type": "string"}},
    },
    "PublicKey": {
        "type": "object",
        "required": ["signing", "exchange"],
        "properties": {"signing": {**_B64_32, "description": "Ed25519 public key"},
                       "exchange": {**_B64_32, "description": "X25519 public key"}},
    },
    "ConnectRequest": {
        "type": "object",
        "required": ["userId", "publicKey", "ts", "sig"],
        "properties": {
            "userId": _USER_ID,
            "publicKey": _ref("PublicKey"),
            "ts": {"type": "integer", "minimum": 0, "description": "Client time in ms; within 2 minutes."},
            "sig": {"type": "string", "description": "base64url Ed25519 signature over "
                    "'chatkernel/relay/connect/v1\\0' + userId + '\\0' + decimal ts."},
        },
    },
    "ConnectResponse": {
        "type": "object",
        "required": ["token", "expiresAt"],
        "properties": {"token": {"type": "string", "description": "Bearer token; the relay keeps only its hash."},
                       "expiresAt": {"type": "integer", "description": "Expiry, ms since the epoch."}},
    },
    "PollRequest": {
        "type": "object",
        "required": ["userId"],
        "properties": {
            "userId": _USER_ID,
            "since": {**_RELAY_ID, "description": "Last event id stored by the client: it and everything "
                      "before it are acknowledged and deleted. Absent: start at the oldest, ack nothing."},
            "timeout": {"type": "number", "minimum": 0, "description": "Seconds to wait; capped at 30."},
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "from", "ts", "payload"],
        "properties": {"id": _RELAY_ID, "from": _USER_ID, "ts": {"type": "integer"}, "payload": {}},
    },
    "EventList": {"type": "array", "items": _ref("Event"),
                  "description": "At most --poll-max-events (100) events or --poll-max-bytes (1 MiB) of payload."},
    "SendRequest": {
        "type": "object",
        "required": ["from", "to", "id", "payload"],
        "properties": {
            "from": _USER_ID,
            "to": _USER_ID,
            "id": {"type": "string", "pattern": MESSAGE_ID_PATTERN, "description": "Client message id; "
                   "a resend with the same (from, id) is answered as a duplicate."},
            "payload": {"not": {"type": "null"}, "description": "Opaque JSON, normally a ciphertext envelope."},
        },
    },
    "SendResponse": {
        "type": "object",
        "required": ["id", "relayId", "duplicate"],
        "properties": {"id": {"type": "string"}, "relayId": _RELAY_ID, "duplicate": {"type": "boolean"}},
    },
    "DisconnectRequest": {"type": "object", "properties": {"userId": _USER_ID}},
    "DisconnectResponse": {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}},
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": f"chatkernel relay ({SERVICE_NAME})",
        "version": __version__,
        "description": "Store-and-forward mailboxes for end-to-end encrypted chat. Identity is proven at "
        "/connect; every other call takes the caller from the bearer token. Delivery is at least once, in "
        "order per recipient; unknown routes answer 404 and wrong methods 405, both as Error.",
    },
    "paths": {
        "/health": {"get": {"summary": "Liveness and version.", "security": [],
                            "responses": {"200": _json(_ref("Health"), "The relay is up.")}}},
        "/openapi.json": {"get": {"summary": "This document.", "security": [],
                                  "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")}}},
        "/connect": {"post": _post(
            "Prove key possession and get a bearer token.", "ConnectRequest",
            _json(_ref("ConnectResponse"), "A new token."), ("401", "409", "413", "422", "429", "503"),
            auth=False)},
        "/poll": {"post": _post(
            "Long-poll the caller's mailbox; acknowledges everything up to `since`.", "PollRequest",
            _json(_ref("EventList"), "Pending events in order, or [] after the timeout, "
                  "when a newer poll of the same user arrives, or after /disconnect."),
            ("401", "403", "413", "422", "429", "503"))},
        "/send": {"post": _post(
            "Store a message in the recipient's mailbox (idempotent per (from, id)).", "SendRequest",
            _json(_ref("SendResponse"), "Stored, or a duplicate of an earlier send."),
            ("401", "403", "409", "413", "422", "429", "503", "507"))},
        "/disconnect": {"post": _post(
            "Revoke the token; the mailbox stays.", "DisconnectRequest",
            _json(_ref("DisconnectResponse"), "Revoked."), ("401", "403", "413", "422", "429", "503"),
            required=False)},
    },
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "security": [{"bearer": []}],
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy, so callers may decorate it (servers list, extensions) freely."""
    return copy.deepcopy(_DOCUMENT)
