"""Each request is charged once: to its user when its token is valid, else to its address.

Every client here is on 127.0.0.1, as every user is behind a proxy: one address for all.
Rates are tiny (one request per 100 s), so a limit's burst is what the tests count, and each
bound on accepted requests is derived from the elapsed time measured around the requests.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, RelayConfig

pytestmark = pytest.mark.anyio

SLOW = 0.01  # requests/s: a burst refills in minutes, far beyond any test's run time


def _config(**limits: float) -> RelayConfig:
    return RelayConfig(**{"rate_per_user": SLOW, "rate_per_address": SLOW, **limits})  # type: ignore[arg-type]


def _scopes(responses: list[httpx.Response]) -> set[str]:
    return {r.json()["scope"] for r in responses if r.status_code == 429}


async def test_a_flooding_user_does_not_starve_a_quiet_neighbour_on_the_same_address(client_for) -> None:
    config = _config(burst_per_user=5, burst_per_address=6)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        flooder, quiet = client_for(http), client_for(http)
        await flooder.connect()
        await quiet.connect()  # two /connect: 2 of the address's 6
        started = time.monotonic()
        flood = [await flooder.send(quiet.user_id, f"f{i}") for i in range(30)]
        calm = [await quiet.send(flooder.user_id, f"q{i}") for i in range(5)]
        elapsed = time.monotonic() - started
    accepted = sum(r.status_code == 200 for r in flood)
    assert 5 <= accepted <= 5 + SLOW * elapsed
    assert {r.status_code for r in flood} == {200, 429} and _scopes(flood) == {"user"}
    assert [r.status_code for r in calm] == [200] * 5  # the flood was charged to the flooder only


async def test_authenticated_requests_do_not_spend_the_address_budget(client_for) -> None:
    config = _config(burst_per_user=20, burst_per_address=2)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice = client_for(http)
        await alice.connect()  # 1 of 2
        assert [(await alice.poll()).status_code for _ in range(10)] == [200] * 10
        await client_for(http).connect()  # the address's second: still there
        refused = await http.post("/connect", json={})
    assert refused.status_code == 429 and refused.json()["scope"] == "address"


@pytest.mark.parametrize("authorization", [
    None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "x" * 600, "Bearer unknown-token",
])
async def test_bad_tokens_spend_the_address_budget_then_get_429_address(client_for, authorization) -> None:
    config = _config(burst_per_user=10, burst_per_address=4)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice = client_for(http)
        await alice.connect()  # 1 of 4
        headers = {} if authorization is None else {"Authorization": authorization}
        started = time.monotonic()
        answers = [await http.post(path, json={"userId": alice.user_id}, headers=headers)
                   for path in ("/poll", "/send", "/disconnect") * 3]
        elapsed = time.monotonic() - started
        assert (await alice.poll()).status_code == 200  # a valid token is charged to its user
        connect = await http.post("/connect", json={})
    unauthorized = [r for r in answers if r.status_code == 401]
    assert 3 <= len(unauthorized) <= 3 + SLOW * elapsed
    assert {r.json()["error"] for r in unauthorized} <= {"missing_token", "invalid_token"}
    refused = [r for r in answers if r.status_code == 429]
    assert len(unauthorized) + len(refused) == len(answers) and _scopes(refused) == {"address"}
    assert all(int(r.headers["retry-after"]) >= 1 and r.json()["retryAfter"] > 0 for r in refused)
    assert "www-authenticate" not in refused[0].headers
    assert connect.status_code == 429 and connect.json()["scope"] == "address"  # one budget


async def test_a_revoked_token_is_charged_to_the_address(client_for) -> None:
    config = _config(burst_per_user=10, burst_per_address=3)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice = client_for(http)
        await alice.connect()  # 1 of 3
        assert (await alice.disconnect()).status_code == 200  # charged to alice
        codes = [(await alice.poll()).status_code for _ in range(4)]
    assert codes[:2] == [401, 401] and codes[-1] == 429


async def _raw_answer(relay: EmbeddedRelay, head: bytes, body: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(relay.host, relay.port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), timeout=10)
    finally:
        writer.close()


async def test_a_connect_flood_gets_429_address_before_its_size_or_body_is_looked_at(client_for) -> None:
    config = _config(burst_per_user=10, burst_per_address=3)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice = client_for(http)
        await alice.connect()
        started = time.monotonic()
        codes = [(await http.post("/connect", json={})).status_code for _ in range(6)]
        elapsed = time.monotonic() - started
        # Spent: a huge declared body is refused by the limit; its body never comes.
        huge = await _raw_answer(relay, b"POST /connect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        b"Content-Length: 10000000000\r\n\r\n", b'{"userId":')
        assert (await alice.poll()).status_code == 200
    assert 2 <= codes.count(422) <= 2 + SLOW * elapsed and codes[-1] == 429
    assert huge.startswith(b"HTTP/1.1 429") and b'"scope":"address"' in huge


async def test_every_authenticated_request_is_charged_once_to_its_user(client_for) -> None:
    config = _config(burst_per_user=4, burst_per_address=3)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()  # 2 of the address's 3
        too_big = await http.post("/send", content=b"x" * (config.max_body_bytes + 1), headers=alice.auth)
        forbidden = await http.post("/poll", json={"userId": bob.user_id, "timeout": 0}, headers=alice.auth)
        invalid = await http.post("/send", content=b"{", headers=alice.auth)
        ok = await alice.poll()
        refused = await alice.poll()  # the fifth: refusals were charged too, each once
        third = await http.post("/connect", json={})  # nothing of alice's spent the address's third
    assert [r.status_code for r in (too_big, forbidden, invalid, ok)] == [413, 403, 422, 200]
    assert refused.status_code == 429 and refused.json()["scope"] == "user"
    assert third.status_code == 422
