"""What a message looks like on the relay and inside its envelope (version 1).

On the relay (the ``payload`` of ``POST /send``; all the relay can read)::

    {"v": 1, "envelope": "<base64url of crypto's envelope>"}

Inside the envelope (UTF-8 JSON, the plaintext crypto seals)::

    {"v": 1, "id": "<message id>", "kind": "text", "body": "<text>", "sentAt": <ms since epoch>}

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

__all__ = ["Content", "KINDS", "content_bytes", "parse_content", "parse_payload", "payload"]

VERSION = 1
KINDS = ("text",)
_ENVELOPE_MAX = 96 * 1024  # decoded bytes; the relay's body limit is lower still


@dataclass(frozen=True)
class Content:
    id: str
    kind: str
    body: str
    sent_at: int

    def __repr__(self) -> str:  # never the body
        return f"Content(id={self.id!r}, kind={self.kind!r}, body=<{len(self.body)} chars>)"


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
    return json.dumps({"v": VERSION, "id": content.id, "kind": content.kind, "body": content.body,
                       "sentAt": content.sent_at}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_content(plaintext: bytes) -> Content:
    try:
        value = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WireFormatError("the content is not UTF-8 JSON") from None
    if not isinstance(value, dict) or value.get("v") != VERSION:
        raise WireFormatError("the content is not a version 1 object")
    if set(value) != {"v", "id", "kind", "body", "sentAt"}:
        raise WireFormatError(f"content fields {sorted(value)} are not ['body', 'id', 'kind', 'sentAt', 'v']")
    message_id, kind, body, sent_at = value["id"], value["kind"], value["body"], value["sentAt"]
    if not is_message_id(message_id):
        raise WireFormatError("id is not a message id (docs/protocol.md)")
    if kind not in KINDS:
        raise WireFormatError(f"kind {kind!r} is not one of {list(KINDS)}")
    if not isinstance(body, str):
        raise WireFormatError("body is not a string")
    if isinstance(sent_at, bool) or not isinstance(sent_at, int) or not 0 <= sent_at < 2**53:
        raise WireFormatError("sentAt is not a time in milliseconds")
    return Content(message_id, kind, body, sent_at)
