"""What a message looks like on the relay and inside its envelope (version 1).

On the relay (the ``payload`` of ``POST /send``; all the relay can read)::

    {"v": 1, "envelope": "<base64url of crypto's envelope>"}
    {"v": 1, "group": "<32 hex>", "envelope": "<base64url of a sender-key group message>"}

Inside the envelope (UTF-8 JSON, the plaintext crypto seals)::

    {"v": 1, "id": "<message id>", "kind": "text", "body": "<text>", "sentAt": <ms>}
    {"v": 1, "id": ..., "kind": "text", "body": ..., "ref": "<id replied to>", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "edit", "body": "<new text>", "ref": "<id of ours>", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "delete", "ref": "<id of ours>", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "delivered" | "read", "refs": ["<id of theirs>", ...], "sentAt": ...}
    {"v": 1, "id": ..., "kind": "typing", "sentAt": ...}
    {"v": 1, "id": ..., "kind": "group", "group": {"id": "<32 hex>", "action": ..., ...}, "sentAt": ...}

A ``group`` content travels only inside a pairwise session (its ``key`` is the sender's secret
sender-key distribution, base64url); ``action`` is one of::

    invite | update   name, members (user ids, the group's whole list), admin, key
    key               key (the sender's current, or rotated, sender key)
    leave | removed   nothing more (the sender left; the admin removed the receiver)

A group message (``group`` in the payload) is one sender-key ciphertext of a text, edit, delete
or typing content, the same bytes in every member's mailbox.

Edits, deletions and receipts are messages like any other, sealed by the same ratchet, so the
relay cannot tell them from text nor forge one; a receipt names at most ``MAX_REFS`` messages.
The message id is the sender's idempotent send id too, so a resend is the relay's duplicate and
a message is stored once per (peer, id). Both parsers are strict: an unknown version, a missing
or extra field, or a wrong type is a :class:`WireFormatError` naming it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chatkernel.relay.protocol import b64url_decode, b64url_encode, is_message_id, is_user_id

from .errors import WireFormatError

__all__ = ["CONTROL_KINDS", "Content", "GROUP_ACTIONS", "GROUP_KINDS", "GroupControl", "KINDS", "MAX_MEMBERS",
           "MAX_REFS", "content_bytes", "parse_content", "parse_payload", "payload"]

VERSION = 1
KINDS = ("text", "edit", "delete", "delivered", "read", "typing", "group")
CONTROL_KINDS = ("edit", "delete", "delivered", "read", "typing", "group")
GROUP_KINDS = ("text", "edit", "delete", "typing")  # what a group message may hold
GROUP_ACTIONS = ("invite", "update", "key", "leave", "removed")
MAX_MEMBERS = 64  # change or say something; no message of their own
MAX_REFS = 256
#: kind -> (required fields, optional fields) besides v, id, kind and sentAt
_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "text": (frozenset({"body"}), frozenset({"ref"})),
    "edit": (frozenset({"body", "ref"}), frozenset()),
    "delete": (frozenset({"ref"}), frozenset()),
    "delivered": (frozenset({"refs"}), frozenset()),
    "read": (frozenset({"refs"}), frozenset()),
    "typing": (frozenset(), frozenset()),
    "group": (frozenset({"group"}), frozenset()),
}
#: group action -> its fields besides id and action
_GROUP_FIELDS = {"invite": frozenset({"name", "members", "admin", "key"}),
                 "update": frozenset({"name", "members", "admin", "key"}),
                 "key": frozenset({"key"}), "leave": frozenset(), "removed": frozenset()}
_GROUP_ID = re.compile(r"[0-9a-f]{32}\Z")
_DISTRIBUTION_MAX = 512
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
    group: GroupControl | None = None  # a group's invitation, update, key, leaving

    def __repr__(self) -> str:  # never the body
        return (f"Content(id={self.id!r}, kind={self.kind!r}, body=<{len(self.body)} chars>, ref={self.ref!r}, "
                f"refs=<{len(self.refs)}>, group={self.group!r})")


@dataclass(frozen=True)
class GroupControl:
    id: str  # 32 hex, the group conversation being "group:" + id
    action: str
    name: str = ""
    members: tuple[str, ...] = ()
    admin: str = ""
    key: bytes = b""  # secret: the sender's sender-key distribution

    def __repr__(self) -> str:  # never the key
        return (f"GroupControl(id={self.id!r}, action={self.action!r}, members=<{len(self.members)}>, "
                f"key=<{'redacted' if self.key else 'none'}>)")

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"id": self.id, "action": self.action}
        fields = _GROUP_FIELDS[self.action]
        if "name" in fields:
            value.update(name=self.name, members=list(self.members), admin=self.admin)
        if "key" in fields:
            value["key"] = b64url_encode(self.key)
        return value


def payload(envelope: bytes, group: str | None = None) -> dict[str, Any]:
    if group is None:
        return {"v": VERSION, "envelope": b64url_encode(envelope)}
    return {"v": VERSION, "group": group, "envelope": b64url_encode(envelope)}


def parse_payload(value: Any) -> tuple[bytes, str | None]:
    """The envelope carried by a relay payload, and the group (32 hex) of a group message."""
    if not isinstance(value, dict):
        raise WireFormatError(f"the payload is a {type(value).__name__}, not an object")
    if value.get("v") != VERSION:
        raise WireFormatError(f"unknown payload version {value.get('v')!r}")
    if set(value) not in ({"v", "envelope"}, {"v", "group", "envelope"}):
        raise WireFormatError(f"payload fields {sorted(value)} are not ['envelope', 'v'] (or with 'group')")
    group = value.get("group")
    if group is not None and (not isinstance(group, str) or not _GROUP_ID.match(group)):
        raise WireFormatError("group is not 32 lowercase hex characters")
    text = value["envelope"]
    if not isinstance(text, str) or not text or len(text) > _ENVELOPE_MAX * 4 // 3 + 4:
        raise WireFormatError("envelope is not a base64url string of an acceptable size")
    try:
        return b64url_decode(text), group
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
    if "group" in required:
        assert content.group is not None
        value["group"] = content.group.to_json()
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
    group = _parse_group(value["group"]) if kind == "group" else None
    return Content(message_id, kind, body, sent_at, ref, tuple(refs), group)


def _parse_group(value: Any) -> GroupControl:
    if not isinstance(value, dict) or value.get("action") not in GROUP_ACTIONS:
        raise WireFormatError(f"group is not an object with an action of {list(GROUP_ACTIONS)}")
    action = value["action"]
    expected = {"id", "action"} | _GROUP_FIELDS[action]
    if set(value) != expected:
        raise WireFormatError(f"group {action} fields {sorted(value)} are not {sorted(expected)}")
    group_id = value["id"]
    if not isinstance(group_id, str) or not _GROUP_ID.match(group_id):
        raise WireFormatError("group id is not 32 lowercase hex characters")
    name, members, admin = value.get("name", ""), value.get("members", []), value.get("admin", "")
    if (not isinstance(name, str) or (action in ("invite", "update") and not 1 <= len(name.strip()) <= 64)
            or len(name) > 64 or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name)):
        raise WireFormatError("group name is not 1 to 64 characters without control characters")
    if (not isinstance(members, list) or len(members) > MAX_MEMBERS or len(set(map(str, members))) != len(members)
            or not all(is_user_id(m) for m in members)):
        raise WireFormatError(f"group members is not a list of at most {MAX_MEMBERS} distinct user ids")
    if action in ("invite", "update") and (not is_user_id(admin) or admin not in members):
        raise WireFormatError("group admin is not one of its members")
    key = b""
    if "key" in value:
        text = value["key"]
        if not isinstance(text, str) or not text or len(text) > _DISTRIBUTION_MAX * 4 // 3 + 4:
            raise WireFormatError("group key is not a base64url string of an acceptable size")
        try:
            key = b64url_decode(text)
        except ValueError:
            raise WireFormatError("group key is not canonical unpadded base64url") from None
    return GroupControl(group_id, action, name, tuple(members), str(admin), key)
