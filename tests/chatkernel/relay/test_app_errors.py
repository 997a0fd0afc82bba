"""Routing errors, unexpected failures and arbitrary input: always JSON, never a traceback,
never a crash, never a lost message."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkernel.relay import EmbeddedRelay, MemoryStore, StoreError

pytestmark = pytest.mark.anyio


async def test_health(http) -> None:
    r = await http.get("/health")
    from chatkernel._version import __version__

    assert r.status_code == 200 and r.json() == {"service": "chat-signaling", "version": __version__}


async def test_unknown_route_is_404_json(http) -> None:
    r = await http.post("/nope", json={})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("method", "path"), [("GET", "/send"), ("PUT", "/poll"), ("DELETE", "/connect"),
                                              ("POST", "/health"), ("PATCH", "/openapi.json")])
async def test_wrong_method_is_405_json(http, method: str, path: str) -> None:
    r = await http.request(method, path)
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert r.headers["allow"]


class BrokenStore(MemoryStore):
    """A store whose append fails unexpectedly, with something sensitive in the message."""

    async def append(self, **kwargs):  # type: ignore[override]
        raise RuntimeError("secret-internal-state /etc/passwd")

    async def length(self, user: str) -> int:
        raise StoreError("redis://:hunter2@db down", backend="redis")


async def test_unexpected_exception_is_500_without_details(client_for, test_config, caplog) -> None:
    store = BrokenStore()
    async with EmbeddedRelay.start(store, config=test_config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice = client_for(http)
        await alice.connect()
        with caplog.at_level(logging.ERROR, logger="chatkernel.relay"):
            r = await alice.send(alice.user_id, "m1")
        assert r.status_code == 500
        assert r.json() == {"error": "internal_error", "detail": "the relay failed to handle this request"}
        assert "Traceback" not in r.text and "secret" not in r.text
        assert "secret-internal-state" in caplog.text  # the operator still sees it in the log
        assert (await http.get("/health")).status_code == 200  # and the server lives on
    await store.close()


async def test_store_failure_is_503_without_backend_details() -> None:
    from chatkernel.relay._app import _render

    response = _render(StoreError("redis://:hunter2@db down", backend="redis"))
    assert response.status_code == 503 and b"hunter2" not in response.body
    assert response.headers["retry-after"] == "1"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["userId", "from", "to", "id", "payload", "since", "timeout", "publicKey", "ts", "sig"])
bodies = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(field_names, json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)


def test_no_input_crashes_the_relay_or_loses_a_message(new_identity) -> None:
    """Fuzz every endpoint with arbitrary bodies, with and without a valid token."""
    with EmbeddedRelay.start_background() as relay, httpx.Client(base_url=relay.url, timeout=10) as http:
        alice, bob = new_identity(), new_identity()
        token = {}
        for who in (alice, bob):
            token[who.user_id] = http.post("/connect", json=who.connect_body()).json()["token"]
        stored = http.post("/send", json={"from": alice.user_id, "to": bob.user_id, "id": "keep", "payload": "p"},
                           headers={"Authorization": f"Bearer {token[alice.user_id]}"})
        assert stored.status_code == 200

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(path=st.sampled_from(["/connect", "/poll", "/send", "/disconnect"]), body=bodies,
               authed=st.booleans())
        def fuzz(path: str, body: bytes, authed: bool) -> None:
            if path == "/poll":  # never park, never ack bob's mailbox
                try:
                    parsed = json.loads(body)
                    if isinstance(parsed, dict):
                        parsed.update(timeout=0)
                        parsed.pop("since", None)
                        body = json.dumps(parsed).encode()
                except ValueError:
                    pass
            headers = {"Authorization": f"Bearer {token[alice.user_id]}"} if authed and path != "/disconnect" else {}
            r = http.post(path, content=body, headers=headers)
            assert r.status_code in {200, 401, 403, 409, 413, 422, 429}, (r.status_code, r.text)
            assert isinstance(r.json(), (dict, list))

        fuzz()
        r = http.post("/poll", json={"userId": bob.user_id, "timeout": 0},
                      headers={"Authorization": f"Bearer {token[bob.user_id]}"})
        assert [e["payload"] for e in r.json()][:1] == ["p"]


# Strict fields: null is never a value, only the listed fields, one base64url spelling -----------------
def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


@pytest.mark.parametrize(
    ("path", "change", "field", "detail"),
    [
        ("/disconnect", {"userId": None}, "userId", "userId must not be null"),
        ("/disconnect", {"user_id": "x"}, "user_id", "unknown field user_id"),
        ("/poll", {"since": None}, "since", "since must not be null"),
        ("/poll", {"since": 0}, "since", "since must be a string (an id returned by /poll), got integer"),
        ("/poll", {"since": 1.5}, "since", "got number"),
        ("/poll", {"since": "1-2-3"}, "since", "not an id this relay returns"),
        ("/poll", {"timeout": None}, "timeout", "timeout must not be null"),
        ("/poll", {"timeout": True}, "timeout", "got boolean"),
        ("/poll", {"userId": None}, "userId", "userId must not be null"),
        ("/poll", {"Since": "1"}, "Since", "unknown field Since; allowed here: userId, since, timeout"),
        ("/send", {"from": None}, "from", "from must not be null"),
        ("/send", {"id": None}, "id", "id must not be null"),
        ("/send", {"payload": None}, "payload", "payload must not be null"),
        ("/send", {"ts": 1}, "ts", "unknown field ts"),
        ("/send", {"to": 5}, "to", "got integer"),
    ],
)
async def test_authenticated_fields_refuse_null_unknown_and_wrong_types(
    alice, bob, path: str, change: dict, field: str, detail: str
) -> None:
    base = {"/disconnect": {}, "/poll": {"userId": alice.user_id, "timeout": 0},
            "/send": {"from": alice.user_id, "to": bob.user_id, "id": "m1", "payload": "x"}}[path]
    r = await alice.http.post(path, json={**base, **change}, headers=alice.auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_field" and r.json()["field"] == field
    assert detail in r.json()["detail"]
    assert (await alice.poll()).status_code == 200  # refused before anything happened: the token lives


async def test_absent_optional_fields_are_fine(alice, bob) -> None:
    await bob.send(alice.user_id, "m1")
    # No since (start at the oldest), no timeout (the default; a pending event answers at once).
    r = await alice.http.post("/poll", json={"userId": alice.user_id}, headers=alice.auth)
    assert [e["payload"] for e in r.json()] == ["ciphertext"]
    assert (await alice.http.post("/disconnect", headers=alice.auth)).json() == {"ok": True}  # empty body: {}


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        (lambda b: {**b, "userId": None}, "userId", "userId must not be null"),
        (lambda b: {**b, "ts": None}, "ts", "ts must not be null"),
        (lambda b: {**b, "sig": None}, "sig", "sig must not be null"),
        (lambda b: {**b, "publicKey": None}, "publicKey", "publicKey must not be null"),
        (lambda b: {**b, "publicKey": []}, "publicKey", "publicKey must be an object, got array"),
        (lambda b: {**b, "publicKey": {**b["publicKey"], "signing": None}}, "publicKey.signing", "must not be null"),
        (lambda b: {**b, "publicKey": {**b["publicKey"], "extra": "x"}}, "publicKey.extra", "unknown field"),
        (lambda b: {**b, "token": "x"}, "token", "unknown field token"),
        (lambda b: {**b, "sig": _padded(b["sig"])}, "sig", "unpadded"),
        (lambda b: {**b, "publicKey": {**b["publicKey"], "exchange": _padded(b["publicKey"]["exchange"])}},
         "publicKey.exchange", "unpadded"),
        (lambda b: {**b, "sig": b["sig"].replace("-", "+").replace("_", "/") if set("-_") & set(b["sig"])
                    else "+" + b["sig"][1:]}, "sig", "only A-Z a-z 0-9 - _"),
        (lambda b: {**b, "sig": b["sig"][:43]}, "sig", "base64url of 64 bytes (86 characters, unpadded)"),
        (lambda b: {**b, "ts": 2**53}, "ts", None),  # refused as I-JSON or as a field, never accepted
    ],
)
async def test_connect_fields_refuse_null_unknown_and_other_spellings(
    http, new_identity, change, field: str, detail: str | None
) -> None:
    r = await http.post("/connect", json=change(new_identity().connect_body(time.time_ns() // 1_000_000)))
    assert r.status_code == 422, r.text
    assert r.json()["error"] in {"invalid_field", "invalid_json"} and r.json()["field"] == field
    if detail is not None:
        assert detail in r.json()["detail"]


async def test_a_non_canonical_signature_is_refused_not_verified(http, new_identity) -> None:
    """Base64url whose unused low bits are set decodes to the same bytes; it is still refused,
    so each signature has exactly one accepted spelling."""
    body = new_identity().connect_body(time.time_ns() // 1_000_000)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(body["sig"][-1])
    body["sig"] = body["sig"][:-1] + alphabet[last | 1]  # 86 chars carry 4 spare bits: set one
    r = await http.post("/connect", json=body)
    assert r.status_code == 422 and r.json()["field"] == "sig" and "not canonical" in r.json()["detail"]
