"""Each threat from the research notes (section 5) against a real relay over HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, RelayConfig, derive_user_id

pytestmark = pytest.mark.anyio


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# 1. Polling someone else's mailbox ---------------------------------------------------------
async def test_poll_with_another_users_token_is_forbidden(alice, bob, http) -> None:
    assert (await alice.send(bob.user_id, "m1")).status_code == 200
    r = await http.post("/poll", json={"userId": bob.user_id, "timeout": 0}, headers=alice.auth)
    assert r.status_code == 403 and r.json() == {"error": "forbidden", "field": "userId", "detail": r.json()["detail"]}
    r = await http.post("/poll", json={"userId": bob.user_id, "timeout": 0})
    assert r.status_code == 401 and r.json()["error"] == "missing_token"
    assert r.headers["www-authenticate"] == "Bearer"
    events = (await bob.poll()).json()  # bob's mailbox is untouched
    assert [e["from"] for e in events] == [alice.user_id]


async def test_bad_or_unknown_tokens_are_401(alice, http) -> None:
    for header in ["Bearer", "Bearer nope", "Basic abc", "bearer " + "x" * 600, alice.auth["Authorization"] + "x"]:
        r = await http.post("/poll", json={"userId": alice.user_id}, headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json()["error"] == "invalid_token"


# 2. Forged sender ---------------------------------------------------------------------------
async def test_send_with_forged_from_is_forbidden(alice, bob) -> None:
    body = {"from": alice.user_id, "to": bob.user_id, "id": "m1", "payload": "x"}
    r = await bob.http.post("/send", json=body, headers=bob.auth)
    assert r.status_code == 403 and r.json()["field"] == "from"
    assert (await bob.poll()).json() == []


# 3. Squatting, key replacement, replays -------------------------------------------------------
async def test_user_id_not_derived_from_keys_is_refused(http, new_identity) -> None:
    body = new_identity().connect_body(now_ms())
    body["userId"] = new_identity().user_id  # a well-formed id belonging to other keys
    r = await http.post("/connect", json=body)
    assert r.status_code == 422 and r.json()["field"] == "userId"


async def test_signature_by_another_key_is_refused(http, new_identity) -> None:
    victim, attacker = new_identity(), new_identity()
    body = victim.connect_body(now_ms())
    body["sig"] = attacker.connect_body(body["ts"])["sig"]
    r = await http.post("/connect", json=body)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"


async def test_signature_over_another_timestamp_is_refused(http, new_identity) -> None:
    body = new_identity().connect_body(now_ms())
    body["ts"] += 1
    r = await http.post("/connect", json=body)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"


@pytest.mark.parametrize("skew_ms", [-180_000, 180_000])
async def test_stale_or_future_timestamp_is_refused(http, new_identity, skew_ms: int) -> None:
    r = await http.post("/connect", json=new_identity().connect_body(now_ms() + skew_ms))
    assert r.status_code == 401 and r.json()["error"] == "stale_timestamp"


async def test_replayed_connect_is_refused(http, new_identity) -> None:
    body = new_identity().connect_body(now_ms())
    assert (await http.post("/connect", json=body)).status_code == 200
    r = await http.post("/connect", json=body)
    assert r.status_code == 401 and r.json()["error"] == "replayed_request"


async def test_user_id_bound_to_another_key_is_409(relay, http, new_identity) -> None:
    identity = new_identity()
    await relay.store.bind_key(identity.user_id, "someone-elses-key")
    r = await http.post("/connect", json=identity.connect_body(now_ms()))
    assert r.status_code == 409 and r.json()["error"] == "key_conflict"


async def test_reconnecting_with_the_same_key_gives_a_new_token(alice) -> None:
    first = alice.token
    await asyncio.sleep(0.002)
    assert await alice.connect() != first
    assert (await alice.poll()).status_code == 200


# 12. Oversized bodies -----------------------------------------------------------------------
async def test_body_over_limit_is_413(alice, bob) -> None:
    r = await alice.send(bob.user_id, "big", payload="x" * (64 * 1024))
    assert r.status_code == 413 and r.json() == {"error": "body_too_large", "limit": 65536,
                                                 "detail": r.json()["detail"]}
    assert (await bob.poll()).json() == []


async def test_body_at_exactly_the_limit_is_read(relay, http) -> None:
    body = b'{"pad":"' + b"x" * (64 * 1024 - 10) + b'"}'
    assert len(body) == 64 * 1024
    r = await http.post("/connect", content=body)
    assert r.status_code == 422  # read and parsed: only the fields are wrong
    r = await http.post("/connect", content=body + b" ")
    assert r.status_code == 413


async def _raw_exchange(relay: EmbeddedRelay, head: bytes, body_parts: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection(relay.host, relay.port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), timeout=10)
    finally:
        writer.close()


async def test_huge_content_length_is_refused_without_reading(relay) -> None:
    head = (b"POST /connect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n")
    answer = await _raw_exchange(relay, head, [b'{"userId":'])  # the rest never comes
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"body_too_large"' in answer


async def test_streamed_body_stops_being_read_past_the_limit(relay) -> None:
    head = b"POST /connect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 16384
    # 65 KiB and no final chunk: the client is still "sending" when the relay answers. (Not
    # more: data the relay never reads would turn its close into a reset that eats the answer.)
    parts = [b"%x\r\n%s\r\n" % (len(c), c) for c in [chunk] * 4 + [b"x" * 1024]]
    answer = await _raw_exchange(relay, head, parts)
    assert answer.startswith(b"HTTP/1.1 413")


# Malformed JSON and fields --------------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"{", b"[]", b'"text"', b"\xff\xfe", b'{"a": NaN}', b"[" * 5000 + b"]" * 5000,
                                 b'{"n": 1' + b"0" * 5000 + b"}"])
async def test_malformed_json_is_422(alice, raw: bytes) -> None:
    r = await alice.http.post("/send", content=raw, headers=alice.auth)
    assert r.status_code == 422 and r.json()["error"] == "invalid_json"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "not-an-id"}, "to"),
        ({"to": None}, "to"),
        ({"to": 5}, "to"),
        ({"id": ""}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"id": "has space"}, "id"),
        ({"id": 7}, "id"),
        ({"payload": None}, "payload"),
        ({"from": "A" * 32}, "from"),
    ],
)
async def test_malformed_send_fields_are_422_naming_the_field(alice, bob, change: dict, field: str) -> None:
    body = {"from": alice.user_id, "to": bob.user_id, "id": "m1", "payload": "x", **change}
    r = await alice.http.post("/send", json=body, headers=alice.auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_field" and r.json()["field"] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"userId": "short"}, "userId"),
        ({"publicKey": "abc"}, "publicKey"),
        ({"publicKey": {"signing": "AAAA", "exchange": "AAAA"}}, "publicKey.signing"),
        ({"ts": "123"}, "ts"),
        ({"ts": True}, "ts"),
        ({"ts": -5}, "ts"),
        ({"sig": "!!!"}, "sig"),
        ({"sig": None}, "sig"),
    ],
)
async def test_malformed_connect_fields_are_422_naming_the_field(http, new_identity, change: dict, field: str) -> None:
    body = {**new_identity().connect_body(now_ms()), **change}
    r = await http.post("/connect", json=body)
    assert r.status_code == 422 and r.json()["field"] == field


@pytest.mark.parametrize(("change", "field"), [({"since": "abc"}, "since"), ({"since": [1]}, "since"),
                                               ({"timeout": -1}, "timeout"), ({"timeout": "5"}, "timeout")])
async def test_malformed_poll_fields_are_422(alice, change: dict, field: str) -> None:
    r = await alice.http.post("/poll", json={"userId": alice.user_id, **change}, headers=alice.auth)
    assert r.status_code == 422 and r.json()["field"] == field


# 13. Flooding ------------------------------------------------------------------------------------
async def test_flood_per_user_is_429_with_retry_after(new_identity, client_for) -> None:
    config = RelayConfig(rate_per_user=1, burst_per_user=5)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        codes = [(await alice.send(bob.user_id, f"m{i}")).status_code for i in range(8)]
        assert codes[:5] == [200] * 5 and codes[-1] == 429
        r = await alice.send(bob.user_id, "again")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "rate_limited" and r.json()["scope"] == "user"
        assert (await bob.send(alice.user_id, "other-user")).status_code == 200  # per user


async def test_flood_per_address_is_429_with_retry_after(new_identity) -> None:
    config = RelayConfig(rate_per_address=1, burst_per_address=3)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        codes = [(await http.post("/connect", json={})).status_code for _ in range(6)]
        assert codes[:3] == [422] * 3 and codes[-1] == 429
        r = await http.post("/connect", json={})
        assert r.json()["scope"] == "address" and int(r.headers["retry-after"]) >= 1
        assert (await http.get("/health")).status_code == 200  # liveness is never limited


async def test_full_mailbox_is_507(new_identity, client_for, test_config) -> None:
    async with EmbeddedRelay.start(config=test_config.replace(mailbox_max_len=2)) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        assert [(await alice.send(bob.user_id, f"m{i}")).status_code for i in range(3)] == [200, 200, 507]
        r = await alice.send(bob.user_id, "m9")
        assert r.json()["error"] == "mailbox_full" and r.json()["limit"] == 2
        events = (await bob.poll()).json()
        await bob.poll(since=events[-1]["id"])  # bob catches up: there is room again
        assert (await alice.send(bob.user_id, "m9")).status_code == 200


# 6. Duplicates -----------------------------------------------------------------------------------
async def test_resend_is_answered_as_duplicate_and_delivered_once(alice, bob) -> None:
    first = (await alice.send(bob.user_id, "m1", payload={"v": 1})).json()
    again = (await alice.send(bob.user_id, "m1", payload={"v": 1})).json()
    assert first["duplicate"] is False and again == {**first, "duplicate": True}
    assert len((await bob.poll()).json()) == 1


async def test_reusing_an_id_for_another_recipient_is_409(alice, bob, new_identity) -> None:
    await alice.send(bob.user_id, "m1")
    r = await alice.send(new_identity().user_id, "m1")
    assert r.status_code == 409 and r.json()["error"] == "id_conflict"


# 15. Tokens: revocation, expiry, logs --------------------------------------------------------------
async def test_token_after_disconnect_is_401_and_mailbox_stays(alice, bob) -> None:
    await alice.send(bob.user_id, "m1")
    assert (await bob.disconnect()).json() == {"ok": True}
    assert (await bob.poll()).status_code == 401
    assert (await bob.send(alice.user_id, "m2")).status_code == 401
    await bob.connect()
    assert len((await bob.poll()).json()) == 1


async def test_disconnect_of_another_user_is_forbidden(alice, bob) -> None:
    r = await alice.http.post("/disconnect", json={"userId": bob.user_id}, headers=alice.auth)
    assert r.status_code == 403
    assert (await alice.poll()).status_code == 200


async def test_expired_token_is_401(new_identity, client_for, test_config) -> None:
    async with EmbeddedRelay.start(config=test_config.replace(token_ttl=0.3)) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        alice = client_for(http)
        await alice.connect()
        assert (await alice.poll()).status_code == 200
        await asyncio.sleep(0.5)
        r = await alice.poll()
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_relay_stores_only_token_hashes(relay, alice) -> None:
    store = relay.store
    assert alice.token not in repr(vars(store))
    import hashlib

    assert hashlib.sha256(alice.token.encode()).hexdigest() in store._tokens


async def test_user_id_is_derived_from_the_keys(new_identity) -> None:
    identity = new_identity()
    signing = identity.signing.public_key().public_bytes_raw()
    exchange = identity.exchange.public_key().public_bytes_raw()
    assert derive_user_id(signing, exchange) == identity.user_id
