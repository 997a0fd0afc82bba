"""What a message looks like on the relay and inside its envelope (version 1).

On the relay (the ``payload`` of ``POST /send``; all the relay can read)::

    {"v": 1, "envelope": "<base64url of crypto's envelope>"}

Inside the envelope (UTF-8 JSON, the plaintext crypto seals)::

    {"v": 1, "id": "<message id>", "kind": "text", "body": "<text>", "sentAt": <ms>}
    {"v": 1, "id": ..., "kind": "text", "body": ..., "ref": "<id replied to>", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "edit", "body": "<new text>", "ref": "<id of ours>", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "delete", "ref": "<id of ours>", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "delivered" | "read", "refs": ["<id of theirs>", ...], "sentAt": ...}
    {"v": 1, "id": ..., "kind": "typing", "sentAt": ...}

Edits, deletions and receipts are messages like any other, sealed by the same ratchet, so the
relay cannot tell them from text nor forge one; a receipt names at most ``MAX_REFS`` messages.
The message id is the sender's idempotent send id too, so a resend is the relay's duplicate and
a message is stored once per (peer, id). Both parsers are strict: an unknown version, a missing
or extra field, or a wrong type is a :class:`WireFormatError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatkernel.relay.protocol import b64url_decode, b64url_encode, is_message_id

from .errors import WireFormatError

__all__ = ["CONTROL_KINDS", "Content", "KINDS", "MAX_REFS", "content_bytes", "parse_content", "parse_payload",
           "payload"]

VERSION = 1
KINDS = ("text", "edit", "delete", "delivered", "read", "typing")
CONTROL_KINDS = ("edit", "delete", "delivered", "read", "typing")  # change or say something; no message of their own
MAX_REFS = 256
#: kind -> (required fields, optional fields) besides v, id, kind and sentAt
_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "text": (frozenset({"body"}), frozenset({"ref"})),
    "edit": (frozenset({"body", "ref"}), frozenset()),
    "delete": (frozenset({"ref"}), frozenset()),
    "delivered": (frozenset({"refs"}), frozenset()),
    "read": (frozenset({"refs"}), frozenset()),
    "typing": (frozenset(), frozenset()),
}
_BASE = frozenset({"v", "id", "kind", "sentAt"})
_ENVELOPE_MAX = 96 * 1024  # decoded bytes; the relay's body limit is lower still


@dataclass(frozen=True)
class Content:
    id: str
    kind: str
    body: str
    sent_at: int
    ref: str | None = None  # the message replied to, edited or deleted
    refs: tuple[str, ...] = ()  # the messages a receipt is for

    def __repr__(self) -> str:  # never the body
        return (f"Content(id={self.id!r}, kind={self.kind!r}, body=<{len(self.body)} chars>, ref={self.ref!r}, "
                f"refs=<{len(self.refs)}>)")


def payload(envelope: bytes) -> dict[str, Any]:
    return {"v": VERSION, "envelope": b64url_encode(envelope)}


def parse_payload(value: Any) -> bytes:
    """The envelope carried by a relay payload."""
    if not isinstance(value, dict):
        raise WireFormatError(f"the payload is a {type(value).__name__}, not an object")
    if value.get("v") != VERSION:
        raise WireFormatError(f"unknown payload version {value.get('v')!r}")
    if set(value) != {"v", "envelope"}:
        raise WireFormatError(f"payload fields {sorted(value)} are not ['envelope', 'v']")
    text = value["envelope"]
    if not isinstance(text, str) or not text or len(text) > _ENVELOPE_MAX * 4 // 3 + 4:
        raise WireFormatError("envelope is not a base64url string of an acceptable size")
    try:
        return b64url_decode(text)
    except ValueError:
        raise WireFormatError("envelope is not canonical unpadded base64url") from None


def content_bytes(content: Content) -> bytes:
    value: dict[str, Any] = {"v": VERSION, "id": content.id, "kind": content.kind}
    required, optional = _FIELDS[content.kind]
    if "body" in required:
        value["body"] = content.body
    if "ref" in required or ("ref" in optional and content.ref is not None):
        value["ref"] = content.ref
    if "refs" in required:
        value["refs"] = list(content.refs)
    value["sentAt"] = content.sent_at
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_content(plaintext: bytes) -> Content:
    try:
        value = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WireFormatError("the content is not UTF-8 JSON") from None
    if not isinstance(value, dict) or value.get("v") != VERSION:
        raise WireFormatError("the content is not a version 1 object")
    kind = value.get("kind")
    if kind not in KINDS:
        raise WireFormatError(f"kind {kind!r} is not one of {list(KINDS)}")
    required, optional = _FIELDS[kind]
    fields = set(value)
    if not (_BASE | required) <= fields or not fields <= (_BASE | required | optional):
        raise WireFormatError(f"{kind} content fields {sorted(fields)} are not {sorted(_BASE | required)}"
                              + (f" (optionally {sorted(optional)})" if optional else ""))
    message_id, sent_at = value["id"], value["sentAt"]
    if not is_message_id(message_id):
        raise WireFormatError("id is not a message id (docs/protocol.md)")
    if isinstance(sent_at, bool) or not isinstance(sent_at, int) or not 0 <= sent_at < 2**53:
        raise WireFormatError("sentAt is not a time in milliseconds")
    body = value.get("body", "")
    if not isinstance(body, str):
        raise WireFormatError("body is not a string")
    if kind in ("text", "edit") and not body.strip():
        raise WireFormatError(f"a {kind} has an empty body")
    ref = value.get("ref")
    if ref is not None and not is_message_id(ref):
        raise WireFormatError("ref is not a message id")
    refs = value.get("refs", [])
    if (not isinstance(refs, list) or ("refs" in required and not 1 <= len(refs) <= MAX_REFS)
            or not all(is_message_id(r) for r in refs)):
        raise WireFormatError(f"refs is not a list of 1 to {MAX_REFS} message ids")
    return Content(message_id, kind, body, sent_at, ref, tuple(refs))
