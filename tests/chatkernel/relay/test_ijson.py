"""Bodies must be I-JSON (RFC 7493), and every poll answer is, so no sender can jam a mailbox.

Before the check, ``/send`` relayed ``"payload": "\\ud800"`` unchanged and a strict parser
(msgspec here, like orjson or serde_json) refused the recipient's whole poll answer forever.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatkernel.relay import EmbeddedRelay, InvalidJSONError
from chatkernel.relay._ijson import MAX_SAFE_INTEGER, parse_ijson, sanitize_stored

pytestmark = pytest.mark.anyio


# The parser ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b'{"payload":"\\ud800"}', "payload", "lone_surrogate"),
        (b'{"payload":{"text":["ok","\\udc00"]}}', "payload.text[1]", "lone_surrogate"),
        (b'{"payload":{"\\ud800":1}}', 'payload["\\ud800"]', "lone_surrogate"),
        (b'{"to":"a","to":"b"}', "to", "duplicate_key"),
        (b'{"payload":{"k":1,"k":1}}', "payload.k", "duplicate_key"),
        (b'{"payload":[9007199254740992]}', "payload[0]", "unsafe_integer"),
        (b'{"ts":-9007199254740992}', "ts", "unsafe_integer"),
        (b'{"payload":1e400}', "payload", "non_finite_number"),
        (b'{"payload":{"odd key":"\\ud800"}}', 'payload["odd key"]', "lone_surrogate"),
    ],
)
def test_json_that_is_not_ijson_is_refused_naming_the_field(raw: bytes, field: str, reason: str) -> None:
    with pytest.raises(InvalidJSONError) as info:
        parse_ijson(raw)
    assert (info.value.field, info.value.reason) == (field, reason)
    assert info.value.body()["field"] == field
    json.dumps(info.value.body(), ensure_ascii=False).encode("utf-8")  # the refusal itself is I-JSON


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b'{"p":"\xed\xa0\x80"}', "invalid_utf8"), (b"\xef\xbb\xbf{}", "bom"), (b'{"p":"\xff"}', "invalid_utf8")],
)
def test_bytes_that_are_not_utf8_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidJSONError) as info:
        parse_ijson(raw)
    assert info.value.reason == reason


def test_ijson_passes_unchanged() -> None:
    text = '{"a":[1,-2,9007199254740991,1.5e300,"\\ud83d\\ude00",null,true],"b":{"c":"\\\\ud800"}}'
    assert parse_ijson(text.encode()) == json.loads(text)
    assert parse_ijson(b"[" * 500 + b"]" * 500) is not None  # deep but legal nesting
    assert MAX_SAFE_INTEGER == 9007199254740991


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
))
def test_any_value_strict_parsers_accept_is_accepted(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        strict = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        with pytest.raises(InvalidJSONError):
            parse_ijson(raw)
        return
    assert parse_ijson(raw) == strict


# Stored payloads -------------------------------------------------------------------------
@given(st.text())
def test_sanitized_payloads_always_parse_strictly(text: str) -> None:
    stored = json.dumps(text, ensure_ascii=True)  # how payloads are stored
    repaired = sanitize_stored(stored)
    decoded = msgspec.json.decode(repaired.encode("ascii"))
    if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        assert repaired == stored and decoded == text


def test_sanitize_keeps_pairs_and_escaped_backslashes() -> None:
    assert sanitize_stored('"\\ud83d\\ude00"') == '"\\ud83d\\ude00"'
    assert sanitize_stored('"\\\\ud800"') == '"\\\\ud800"'  # a backslash, then the text "ud800"
    assert sanitize_stored('"\\\\\\ud800"') == '"\\\\\\ufffd"'  # a backslash, then a lone surrogate
    assert sanitize_stored('["\\ud800","\\uDFFF"]') == '["\\ufffd","\\ufffd"]'


# Through a real relay --------------------------------------------------------------------
async def test_send_with_a_lone_surrogate_is_refused_and_the_mailbox_stays_readable(
    http: httpx.AsyncClient, alice: Any, bob: Any
) -> None:
    body = f'{{"from":"{alice.user_id}","to":"{bob.user_id}","id":"m1","payload":{{"text":"\\ud800"}}}}'
    r = await http.post("/send", content=body, headers={**alice.auth, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json() == {"error": "invalid_json", "detail": r.json()["detail"], "field": "payload.text",
                        "reason": "lone_surrogate"}
    assert (await alice.send(bob.user_id, "m2", {"text": "after"})).status_code == 200
    answer = await bob.poll()
    assert [e["payload"] for e in msgspec.json.decode(answer.content)] == [{"text": "after"}]


async def test_send_with_a_duplicate_key_is_refused(http: httpx.AsyncClient, alice: Any, bob: Any) -> None:
    body = (f'{{"from":"{alice.user_id}","to":"{bob.user_id}","to":"{alice.user_id}",'
            f'"id":"m1","payload":"x"}}')
    r = await http.post("/send", content=body, headers={**alice.auth, "Content-Type": "application/json"})
    assert (r.status_code, r.json()["field"], r.json()["reason"]) == (422, "to", "duplicate_key")
    assert (await bob.poll()).json() == []


async def test_a_poisoned_message_left_by_an_older_relay_is_repaired(
    relay: EmbeddedRelay, alice: Any, bob: Any
) -> None:
    # Written straight into the store, as a relay without the check would have stored it.
    await relay.store.append(to=bob.user_id, sender=alice.user_id, msg_id="old", payload='{"text":"\\ud800!"}',
                             ts=1, max_len=100, dedup_until=2**40)
    assert (await alice.send(bob.user_id, "new", "next")).status_code == 200
    answer = await bob.poll()
    events = msgspec.json.decode(answer.content)  # strict: would refuse the whole page before
    assert [e["payload"] for e in events] == [{"text": "\ufffd!"}, "next"]
    assert (await bob.poll(since=events[-1]["id"])).json() == []
