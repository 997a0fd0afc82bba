"""The relay's OpenAPI 3.1 document, written by hand so it states the contract, not the code.

Each operation's refusals come from one table (:data:`ENDPOINT_CODES`: which ``error`` codes an
operation can answer) and one catalogue (:data:`_CODES`: each code's status and meaning), so
the lists cannot drift apart between endpoints. Every refusal's schema pins ``error`` to the
codes of its own operation and status. ``docs/protocol.md`` is the prose companion.

``tests/chatkernel/relay/test_openapi.py`` checks it against the routes and validates real
answers, refusals included, against these schemas.
"""

from __future__ import annotations

import copy
from typing import Any

from .._version import __version__
from ._config import RelayConfig
from ._errors import (
    BAD_PREKEY_SIGNATURE,
    BAD_SIGNATURE,
    BODY_TOO_LARGE,
    FORBIDDEN,
    HEADERS_TOO_LARGE,
    HTTP_ERROR,
    ID_CONFLICT,
    INTERNAL_ERROR,
    INVALID_FIELD,
    INVALID_JSON,
    INVALID_TOKEN,
    KEY_CONFLICT,
    MAILBOX_FULL,
    METHOD_NOT_ALLOWED,
    MISSING_TOKEN,
    NO_PREKEYS,
    NOT_FOUND,
    RATE_LIMITED,
    REPLAYED_REQUEST,
    REQUEST_TIMEOUT,
    STALE_PREKEY,
    STALE_TIMESTAMP,
    STORE_UNAVAILABLE,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_POLLS,
    TOO_MANY_PREKEYS,
    UNKNOWN_USER,
)
from .protocol import MESSAGE_ID_PATTERN, PREKEY_ID_MAX, SERVICE_NAME, USER_ID_PATTERN, b64url_pattern

__all__ = ["ENDPOINT_CODES", "RELAY_ID_PATTERN", "openapi_document"]

_D = RelayConfig()  # the defaults the document quotes, so the prose cannot drift from the code
_KIB = 1024
# What a relay id looks like today: a decimal counter (memory, SQLite) or a Redis stream id
# ``ms-seq``. Clients must treat it as opaque; a backend accepts only its own form.
RELAY_ID_PATTERN = r"^(0|[1-9][0-9]{0,18})(-(0|[1-9][0-9]{0,18}))?$"

_RETRY_AFTER = {"description": "Whole seconds to wait before retrying (at least 1).", "schema": {"type": "integer"}}
_CLOSE = {"description": "`close`: the relay closes the connection after this answer.", "schema": {"const": "close"}}
_BEARER = {"description": "`Bearer`", "schema": {"const": "Bearer"}}

# code -> (status, meaning, response headers it carries)
_CODES: dict[str, tuple[int, str, dict[str, Any]]] = {
    BODY_TOO_LARGE: (413, f"the body exceeds {_D.max_body_bytes // _KIB} KiB (`limit`); a larger declared "
                     "Content-Length is refused before the body is read", {}),
    INVALID_JSON: (422, "the body is not UTF-8 JSON (`reason` invalid_utf8 or bom for those two), not an "
                   "object, or JSON but not I-JSON (RFC 7493): then `field` is the path of the offending value "
                   "(`payload.items[2]`) and `reason` is lone_surrogate, duplicate_key, unsafe_integer or "
                   "non_finite_number", {}),
    INVALID_FIELD: (422, "a field is missing, null, unknown, or of the wrong type or form; `field` names it "
                    "(`publicKey.signing`)", {}),
    MISSING_TOKEN: (401, "no Authorization header", {"WWW-Authenticate": _BEARER}),
    INVALID_TOKEN: (401, "not `Bearer <token>`, or the token is unknown, revoked or expired: /connect again",
                    {"WWW-Authenticate": _BEARER}),
    BAD_SIGNATURE: (401, "`sig` does not verify for this userId, ts and publicKey.signing",
                    {"WWW-Authenticate": _BEARER}),
    STALE_TIMESTAMP: (401, f"`ts` is more than {_D.connect_window:g} s from the relay's clock",
                      {"WWW-Authenticate": _BEARER}),
    REPLAYED_REQUEST: (401, "this (userId, ts) was already used: sign a fresh ts", {"WWW-Authenticate": _BEARER}),
    FORBIDDEN: (403, "`field` (userId or from) names a user other than the token's; at GET /keys/{userId}, "
                "the token's own user (nobody fetches their own bundle)", {}),
    KEY_CONFLICT: (409, "this userId is bound to other keys (`field` publicKey)", {}),
    ID_CONFLICT: (409, "this (from, id) was already used for a message to another recipient (`field` id)", {}),
    RATE_LIMITED: (429, f"too many requests: `scope` user (authenticated requests, {_D.rate_per_user:g}/s, burst "
                   f"{_D.burst_per_user:g}) or address (/connect and requests with a missing or invalid token, "
                   f"{_D.rate_per_address:g}/s, burst {_D.burst_per_address:g}); `retryAfter` in seconds",
                   {"Retry-After": _RETRY_AFTER}),
    INTERNAL_ERROR: (500, "an unexpected failure; no details are disclosed", {}),
    TOO_MANY_POLLS: (503, f"this node already parks {_D.max_parked_polls} polls; `retryAfter`",
                     {"Retry-After": _RETRY_AFTER}),
    STORE_UNAVAILABLE: (503, "the message store is unreachable; retry", {"Retry-After": _RETRY_AFTER}),
    MAILBOX_FULL: (507, f"the recipient holds {_D.mailbox_max_len} undelivered messages (`limit`); retrying "
                   "helps only after the recipient polls", {}),
    HEADERS_TOO_LARGE: (431, f"request line and headers exceed {_D.header_max_bytes // _KIB} KiB (`limit`); "
                        "answered by the connection layer", {"Connection": _CLOSE}),
    REQUEST_TIMEOUT: (408, f"the headers did not arrive within {_D.header_timeout:g} s, or the body within "
                      f"{_D.body_timeout:g} s", {"Connection": _CLOSE}),
    TOO_MANY_CONNECTIONS: (503, f"this node holds {_D.max_connections} connections (`limit`); answered by the "
                           "connection layer", {"Connection": _CLOSE, "Retry-After": _RETRY_AFTER}),
    BAD_PREKEY_SIGNATURE: (422, "`signedPrekey.sig` does not verify with the signing key bound at /connect "
                           "over 'chatkernel/relay/signed-prekey/v1\\0' + id (4 bytes, big-endian) + key", {}),
    TOO_MANY_PREKEYS: (422, f"storing these one-time prekeys would exceed {_D.prekey_max_per_user} per user "
                       "(`limit`, `field` oneTimePrekeys); nothing was stored", {}),
    STALE_PREKEY: (409, "`signedPrekey.id` is below the current signed prekey's, or equal with another key or "
                   "signature (`field` signedPrekey.id); nothing was stored", {}),
    UNKNOWN_USER: (404, "this userId never connected to this relay (`field` userId)", {}),
    NO_PREKEYS: (404, "this user has not uploaded a signed prekey (`field` userId)", {}),
    NOT_FOUND: (404, "no such path", {}),
    METHOD_NOT_ALLOWED: (405, "the path exists but not for this method (see `Allow`)", {}),
    HTTP_ERROR: (400, "any other HTTP-level refusal, with its own status", {}),
}

# Any request may be refused by the connection layer before it reaches the app.
_CONNECTION = (HEADERS_TOO_LARGE, REQUEST_TIMEOUT, TOO_MANY_CONNECTIONS)
# Any POST: its body is limited, parsed and checked; the store may fail.
_BODY = (BODY_TOO_LARGE, INVALID_JSON, INVALID_FIELD, RATE_LIMITED, STORE_UNAVAILABLE, INTERNAL_ERROR)
# The authenticated POSTs: a bearer token, and body fields that must name the token's user.
_TOKEN = (MISSING_TOKEN, INVALID_TOKEN, FORBIDDEN)

# (path, method) -> every error code the operation can answer.
ENDPOINT_CODES: dict[tuple[str, str], tuple[str, ...]] = {
    ("/health", "get"): _CONNECTION,
    ("/ready", "get"): (STORE_UNAVAILABLE, INTERNAL_ERROR, *_CONNECTION),
    ("/openapi.json", "get"): _CONNECTION,
    ("/connect", "post"): (*_BODY, BAD_SIGNATURE, STALE_TIMESTAMP, REPLAYED_REQUEST, KEY_CONFLICT, *_CONNECTION),
    ("/poll", "post"): (*_BODY, *_TOKEN, TOO_MANY_POLLS, *_CONNECTION),
    ("/send", "post"): (*_BODY, *_TOKEN, ID_CONFLICT, MAILBOX_FULL, *_CONNECTION),
    ("/disconnect", "post"): (*_BODY, *_TOKEN, *_CONNECTION),
    ("/keys", "post"): (*_BODY, *_TOKEN, BAD_PREKEY_SIGNATURE, STALE_PREKEY, TOO_MANY_PREKEYS, *_CONNECTION),
    # No body, but a token, a path parameter and the caller's rate limit.
    ("/keys/{userId}", "get"): (INVALID_FIELD, RATE_LIMITED, STORE_UNAVAILABLE, INTERNAL_ERROR, *_TOKEN,
                                UNKNOWN_USER, NO_PREKEYS, *_CONNECTION),
}
# Answered for a path or method no operation covers (components.responses).
_ROUTING = {"NotFound": (NOT_FOUND,), "MethodNotAllowed": (METHOD_NOT_ALLOWED,), "HttpError": (HTTP_ERROR,)}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _refusal(codes: tuple[str, ...], notes: dict[str, str] | None = None) -> dict[str, Any]:
    """One status's answer: ``Error`` with ``error`` pinned to ``codes``, each explained."""
    notes = notes or {}
    headers: dict[str, Any] = {}
    lines = []
    for code in codes:
        _status, meaning, extra = _CODES[code]
        headers.update(extra)
        lines.append(f"`{code}`: {meaning}{notes.get(code, '')}.")
    # A header is required when every code of this status sends it.
    for name, header in headers.items():
        headers[name] = {**header, "required": all(name in _CODES[code][2] for code in codes)}
    schema = {"allOf": [_ref("Error")], "properties": {"error": {"enum": list(codes)}}}
    return _json(schema, " ".join(lines), headers)


def _responses(path: str, method: str, ok: dict[str, Any], notes: dict[str, str] | None = None) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in ENDPOINT_CODES[(path, method)]:
        by_status.setdefault(_CODES[code][0], []).append(code)
    refusals = {str(status): _refusal(tuple(codes), notes) for status, codes in sorted(by_status.items())}
    return {"200": ok, **refusals}


def _post(path: str, summary: str, request: str, ok: dict[str, Any], *, auth: bool = True, required: bool = True,
          notes: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}] if auth else [],
        "requestBody": {"required": required, "content": {"application/json": {"schema": _ref(request)}}},
        "responses": _responses(path, "post", ok, notes),
    }


def _get(path: str, summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "security": [], "responses": _responses(path, "get", ok)}


def _get_auth(path: str, summary: str, ok: dict[str, Any], parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summary": summary, "security": [{"bearer": []}], "parameters": parameters,
            "responses": _responses(path, "get", ok)}


def _request(properties: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    # Requests are closed: an unknown field is refused (422 invalid_field naming it), so a
    # misspelt optional field fails instead of being ignored. null is never a value: omit instead.
    return {"type": "object", "required": list(required), "properties": properties, "additionalProperties": False}


def _answer(properties: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    # Answers are open: a later relay may add fields, and clients ignore the ones they do not know.
    return {"type": "object", "required": list(required), "properties": properties, "additionalProperties": True}


_USER_ID = {"type": "string", "pattern": USER_ID_PATTERN, "description": "32 characters: lower-case RFC 4648 base32, "
            "unpadded, of SHA-256('chatkernel/relay/user-id/v1\\0' + Ed25519 key + X25519 key), truncated."}
_B64_32 = {"type": "string", "pattern": b64url_pattern(32), "description": "base64url (RFC 4648 section 5) of 32 raw "
           "bytes: 43 characters, unpadded, unused bits zero"}
_RELAY_ID = {"type": "string", "pattern": RELAY_ID_PATTERN, "description": "Opaque relay id, increasing within a "
             "mailbox; a client only echoes one back as `since`."}
_MESSAGE_ID = {"type": "string", "pattern": MESSAGE_ID_PATTERN, "description": "The sender's id of the message."}
_PREKEY_ID = {"type": "integer", "minimum": 0, "maximum": PREKEY_ID_MAX, "description": "Unsigned 32-bit id chosen by "
              "the owner, who finds the private key by it."}
_PREKEY = {**_B64_32, "description": f"X25519 public key, {_B64_32['description']}"}
_SIG_64 = {"type": "string", "pattern": b64url_pattern(64), "description": "base64url (86 characters, unpadded) of "
           "an Ed25519 signature"}
_SPK_SIG = {**_SIG_64, "description": f"{_SIG_64['description']} by the identity signing key over "
            "'chatkernel/relay/signed-prekey/v1\\0' + id (4 bytes, big-endian) + the raw 32-byte key."}

_SCHEMAS: dict[str, Any] = {
    "Error": _answer({
        "error": {"type": "string", "description": "Stable machine-readable code; act on this."},
        "detail": {"type": "string", "description": "Human-readable explanation; may change."},
        "field": {"type": "string", "description": "The refused field (invalid_field, forbidden, conflicts, the "
                  "key directory's codes) or the path of the offending value (invalid_json)."},
        "reason": {"type": "string", "description": "cursor_ahead (invalid_field of since); lone_surrogate, "
                   "duplicate_key, unsafe_integer, non_finite_number, invalid_utf8 or bom (invalid_json)."},
        "scope": {"type": "string", "enum": ["user", "address"]},
        "retryAfter": {"type": "number", "description": "Seconds; Retry-After holds it rounded up."},
        "limit": {"type": "integer", "description": "The limit that was reached."},
        "ready": {"const": False, "description": "GET /ready only."},
        "store": {"type": "string", "description": "GET /ready only: the store backend."},
    }, ("error", "detail")),
    "Health": _answer({"service": {"const": SERVICE_NAME}, "version": {"type": "string"}}, ("service", "version")),
    "Ready": _answer({"ready": {"const": True}, "store": {"type": "string", "enum": ["memory", "sqlite", "redis"]}},
                     ("ready", "store")),
    "PublicKey": _request({"signing": {**_B64_32, "description": f"Ed25519 public key, {_B64_32['description']}"},
                           "exchange": {**_B64_32, "description": f"X25519 public key, {_B64_32['description']}"}},
                          ("signing", "exchange")),
    "ConnectRequest": _request({
        "userId": _USER_ID,
        "publicKey": _ref("PublicKey"),
        "ts": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1, "description": "Client time, ms since the "
               f"epoch; within {_D.connect_window:g} s of the relay's clock; each (userId, ts) is accepted once."},
        "sig": {"type": "string", "pattern": b64url_pattern(64), "description": "base64url (86 characters, "
                "unpadded) of the Ed25519 signature over 'chatkernel/relay/connect/v1\\0' + userId + '\\0' + ts "
                "in decimal ASCII."},
    }, ("userId", "publicKey", "ts", "sig")),
    "ConnectResponse": _answer({
        "token": {"type": "string", "description": "Bearer token for the other calls; the relay keeps only its hash."},
        "expiresAt": {"type": "integer", "description": f"Expiry, ms since the epoch ({_D.token_ttl:g} s after "
                      "/connect by default)."},
    }, ("token", "expiresAt")),
    "PollRequest": _request({
        "userId": {**_USER_ID, "description": "The token's user."},
        "since": {**_RELAY_ID, "description": "The id of the last event the client has stored: it and every event "
                  "before it are acknowledged and deleted. Absent: start at the oldest, acknowledge nothing."},
        "timeout": {"type": "number", "minimum": 0, "description": f"Seconds to wait for an event; absent: "
                    f"{_D.poll_default_timeout:g}; above {_D.poll_max_timeout:g} it is clamped, not refused."},
    }, ("userId",)),
    "Event": _answer({"id": _RELAY_ID, "from": _USER_ID,
                      "ts": {"type": "integer", "description": "When the relay stored it, ms since the epoch."},
                      "payload": {"not": {"type": "null"}, "description": "As sent."}},
                     ("id", "from", "ts", "payload")),
    "EventList": {"type": "array", "items": _ref("Event"), "description": f"Oldest first: at most "
                  f"{_D.poll_max_events} events or {_D.poll_max_bytes // (_KIB * _KIB)} MiB of payload."},
    "SendRequest": _request({
        "from": {**_USER_ID, "description": "The token's user."},
        "to": _USER_ID,
        "id": {**_MESSAGE_ID, "description": f"The sender's message id; a resend with the same (from, id) within "
               f"{_D.dedup_ttl:g} s is answered as a duplicate and stored once."},
        "payload": {"not": {"type": "null"}, "description": "Any I-JSON value but null, normally a ciphertext "
                    "envelope; relayed unchanged."},
    }, ("from", "to", "id", "payload")),
    "SendResponse": _answer({"id": _MESSAGE_ID, "relayId": _RELAY_ID, "duplicate": {"type": "boolean"}},
                            ("id", "relayId", "duplicate")),
    "DisconnectRequest": _request({"userId": {**_USER_ID, "description": "Optional; if present, the token's user."}},
                                  ()),
    "DisconnectResponse": _answer({"ok": {"const": True}}, ("ok",)),
    "SignedPrekey": _request({"id": _PREKEY_ID, "key": _PREKEY, "sig": _SPK_SIG}, ("id", "key", "sig")),
    "OneTimePrekey": _request({"id": _PREKEY_ID, "key": _PREKEY}, ("id", "key")),
    "KeysRequest": _request({
        "userId": {**_USER_ID, "description": "The token's user."},
        "signedPrekey": {**_ref("SignedPrekey"), "description": "Optional. Replaces the stored signed prekey when "
                         "its id is higher; the same id, key and sig again is a harmless retry."},
        "oneTimePrekeys": {"type": "array", "items": _ref("OneTimePrekey"), "maxItems": _D.prekey_batch_max,
                           "description": "Optional; distinct ids. Ids not above every id this user uploaded before "
                           "are skipped (not counted in `accepted`), so a replay never brings back a used key."},
    }, ("userId",)),
    "KeysResponse": _answer({
        "oneTimePrekeys": {"type": "integer", "minimum": 0, "description": "One-time prekeys left for others to "
                           "fetch: refill when low. A body of only userId asks for this count."},
        "accepted": {"type": "integer", "minimum": 0, "description": "One-time prekeys this upload added."},
        "signedPrekeyId": {**_PREKEY_ID, "description": "The current signed prekey's id; absent if none."},
    }, ("oneTimePrekeys", "accepted")),
    "Bundle": _answer({
        "userId": _USER_ID,
        "publicKey": _answer({"signing": {**_B64_32, "description": "Ed25519 identity key, as proven at /connect."},
                              "exchange": {**_B64_32, "description": "X25519 identity key, as proven at /connect."}},
                             ("signing", "exchange")),
        "signedPrekey": _answer({"id": _PREKEY_ID, "key": _PREKEY, "sig": _SPK_SIG}, ("id", "key", "sig")),
        "oneTimePrekey": {**_answer({"id": _PREKEY_ID, "key": _PREKEY}, ("id", "key")), "description": "Handed out "
                          "to this caller only and deleted; absent when none are left."},
    }, ("userId", "publicKey", "signedPrekey")),
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": f"chatkernel relay ({SERVICE_NAME})",
        "version": __version__,
        "description": "Store-and-forward mailboxes for end-to-end encrypted chat (docs/protocol.md). Identity "
        "is proven at /connect; every other POST takes the caller from the bearer token. Delivery is at least "
        "once, in order per recipient. Bodies are I-JSON objects with exactly the listed fields: an unknown "
        "field or a null is refused (omit an optional field instead). Every refusal is an Error whose `error` "
        "is one of the operation's own codes; unknown paths answer 404 and wrong methods 405 (see "
        "components.responses).",
    },
    "paths": {
        "/health": {"get": _get("/health", "Liveness and version; touches no store.",
                                _json(_ref("Health"), "The relay process is up."))},
        "/ready": {"get": _get("/ready", "Readiness: the store answers.",
                               _json(_ref("Ready"), "Ready for traffic."))},
        "/openapi.json": {"get": _get("/openapi.json", "This document.",
                                      _json({"type": "object"}, "OpenAPI 3.1 document."))},
        "/connect": {"post": _post(
            "/connect", "Prove key possession and get a bearer token.", "ConnectRequest",
            _json(_ref("ConnectResponse"), "A new token."), auth=False)},
        "/poll": {"post": _post(
            "/poll", "Long-poll the caller's mailbox; acknowledges everything up to `since`.", "PollRequest",
            _json(_ref("EventList"), "Pending events in order, or [] after the timeout, when a newer poll of the "
                  "same user arrives, after /disconnect, or when the relay stops."),
            notes={INVALID_FIELD: "; `reason` cursor_ahead when `since` is past every id this mailbox assigned "
                   "(the relay lost its messages): poll again without `since`"})},
        "/send": {"post": _post(
            "/send", "Store a message in the recipient's mailbox (idempotent per (from, id)).", "SendRequest",
            _json(_ref("SendResponse"), "Stored, or a duplicate of an earlier send (same relayId)."))},
        "/disconnect": {"post": _post(
            "/disconnect", "Revoke this token; the mailbox stays. Parked polls of the user answer [].",
            "DisconnectRequest", _json(_ref("DisconnectResponse"), "Revoked."), required=False)},
        "/keys": {"post": _post(
            "/keys", "Upload the caller's signed prekey and one-time prekeys (X3DH); answers what is left.",
            "KeysRequest", _json(_ref("KeysResponse"), "Stored; the counts after this upload."))},
        "/keys/{userId}": {"get": _get_auth(
            "/keys/{userId}", "Fetch another user's bundle, taking one of its one-time prekeys for good.",
            _json(_ref("Bundle"), "Identity keys, the signed prekey, and a one-time prekey while any are left.",
                  {"Cache-Control": {"description": "`no-store`: the answer hands out a key once.", "required": True,
                                     "schema": {"const": "no-store"}}}),
            [{"name": "userId", "in": "path", "required": True, "schema": _USER_ID}])},
    },
    "components": {
        "schemas": _SCHEMAS,
        "responses": {name: _refusal(codes) for name, codes in _ROUTING.items()},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "security": [{"bearer": []}],
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy, so callers may decorate it (servers list, extensions) freely."""
    return copy.deepcopy(_DOCUMENT)
