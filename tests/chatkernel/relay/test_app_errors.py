"""Routing errors, unexpected failures and arbitrary input: always JSON, never a traceback,
never a crash, never a lost message."""

from __future__ import annotations

import json
import logging

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
