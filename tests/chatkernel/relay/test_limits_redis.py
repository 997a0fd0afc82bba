"""Rate limits shared through Redis: the GCRA script itself, and two relay nodes on one Redis.

The script runs on Redis's clock, which the tests cannot drive: slow limits (one request per
10 s) make bursts exact, and where refill matters a test sleeps for the retry-after the script
itself answered, never for a guessed duration. Bounds on accepted requests are derived from
elapsed times measured around the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, RedisStore, RelayConfig, StoreError, open_store

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

SLOW = 0.1  # requests/s: 10 s per request


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    opened = open_store(redis_url)
    assert isinstance(opened, RedisStore)
    async with opened:
        yield opened


async def _checks(limiter, key: str, n: int) -> list[float | None]:
    return [await limiter.check(key) for _ in range(n)]


async def test_a_burst_is_allowed_then_refused_with_the_wait(store: RedisStore) -> None:
    limiter = store.rate_limiter("user", SLOW, 3, max_keys=1)
    started = time.monotonic()
    results = await _checks(limiter, "alice", 5)
    elapsed = time.monotonic() - started
    assert results[:3] == [None] * 3
    for retry in results[3:]:
        assert retry is not None and 10 - elapsed - 0.01 <= retry <= 10  # one interval, less what refilled
    assert await limiter.check("bob") is None  # keys are independent
    assert await store.rate_limiter("address", SLOW, 3, max_keys=1).check("alice") is None  # and so are names


async def test_refused_requests_are_not_charged(store: RedisStore) -> None:
    limiter = store.rate_limiter("user", 20, 1, max_keys=1)
    waits = []
    for _ in range(50):  # bounded: at 20/s a refusal comes within a few attempts
        retry = await limiter.check("alice")
        if retry is not None:
            waits.append(retry)
            if len(waits) == 5:
                break
    assert len(waits) == 5 and all(0 < w <= 0.05 for w in waits)
    await asyncio.sleep(waits[-1] + 0.005)  # what the script said, not a guess
    assert await limiter.check("alice") is None  # five refusals in a row did not push it back


async def test_refill_follows_the_retry_after(store: RedisStore) -> None:
    limiter = store.rate_limiter("user", 20, 2, max_keys=1)
    for _ in range(3):
        retry = None
        for _attempt in range(50):
            retry = await limiter.check("alice")
            if retry is not None:
                break
        assert retry is not None and 0 < retry <= 0.05
        await asyncio.sleep(retry + 0.005)
        assert await limiter.check("alice") is None


async def test_keys_expire_when_their_state_would_be_a_fresh_key(store: RedisStore) -> None:
    redis = store._r
    slow = store.rate_limiter("user", SLOW, 3, max_keys=1)
    await _checks(slow, "alice", 2)
    ttl = await redis.pttl(f"{store.prefix}rl:user:alice")
    assert 10_000 < ttl <= 20_000  # two intervals charged: the TAT is 20 s ahead at most
    fast = store.rate_limiter("address", 50, 2, max_keys=1)  # 20 ms per request
    assert await fast.check("127.0.0.1") is None
    key = f"{store.prefix}rl:address:127.0.0.1"
    assert 0 < await redis.pttl(key) <= 20
    for _ in range(200):  # bounded: about 2 s at most
        if not await redis.exists(key):
            break
        await asyncio.sleep(0.01)
    assert not await redis.exists(key)


async def test_two_connections_share_one_limit(store: RedisStore, redis_url: str) -> None:
    async with open_store(redis_url) as other:
        mine = store.rate_limiter("user", SLOW, 3, max_keys=1)
        theirs = other.rate_limiter("user", SLOW, 3, max_keys=1)
        results = [await (mine if i % 2 else theirs).check("alice") for i in range(6)]
    assert results[:3] == [None] * 3 and None not in results[3:]


async def test_the_script_runs_by_sha_and_survives_a_script_flush(store: RedisStore) -> None:
    redis = store._r
    limiter = store.rate_limiter("user", 1000, 1000, max_keys=1)

    async def eval_calls() -> tuple[int, int]:
        stats = await redis.info("commandstats")
        calls = [int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("eval", "evalsha")]
        return calls[0], calls[1]

    await limiter.check("warm")
    before = await eval_calls()
    await _checks(limiter, "alice", 20)
    after = await eval_calls()
    assert after[0] == before[0] and after[1] - before[1] >= 20  # EVALSHA only: loaded once
    await redis.script_flush()
    assert await limiter.check("alice") is None  # reloaded by redis-py on NOSCRIPT


@contextlib.contextmanager
def _private_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # bounded: 10 s
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield proc, f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(10)


async def test_redis_down_is_a_store_error_and_a_503(redis_server: str) -> None:
    config = RelayConfig(rate_per_user=100, burst_per_user=100)
    with _private_redis() as (proc, url):
        async with open_store(url) as down, EmbeddedRelay.start(down, config=config) as relay:
            limiter = down.rate_limiter("user", 1, 1, max_keys=1)
            proc.kill()
            proc.wait(10)
            with pytest.raises(StoreError) as info:
                await limiter.check("alice")
            assert info.value.backend == "redis"
            async with httpx.AsyncClient(base_url=relay.url, timeout=30) as http:
                r = await http.post("/connect", json={})
    assert r.status_code == 503 and r.json() == {"error": "store_unavailable",
                                                 "detail": "the message store is unavailable; retry later"}


def test_two_relay_nodes_count_one_limit_per_user_and_per_address(relay_process, redis_url: str,
                                                                  new_identity) -> None:
    limits = ("--rate-per-user", "0.5", "--burst-per-user", "6", "--rate-per-address", "0.5",
              "--burst-per-address", "8")
    nodes = [relay_process(name, "--store", redis_url, "--log-level", "warning", *limits) for name in ("a", "b")]
    for node in nodes:
        node.wait_ready()
    alice, bob = new_identity(), new_identity()
    with httpx.Client(base_url=nodes[0].url, timeout=10) as on_a, \
            httpx.Client(base_url=nodes[1].url, timeout=10) as on_b:
        clients = (on_a, on_b)
        token = on_a.post("/connect", json=alice.connect_body()).json()["token"]
        assert on_b.post("/connect", json=bob.connect_body()).status_code == 200  # 2 of the address's 8
        auth = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        sends = [(i % 2, clients[i % 2].post("/send", headers=auth, json={
            "from": alice.user_id, "to": bob.user_id, "id": f"m{i}", "payload": "x"})) for i in range(30)]
        user_elapsed = time.monotonic() - started
        started = time.monotonic()
        bad = [(i % 2, clients[i % 2].post("/poll", headers={"Authorization": "Bearer nope"}, json={}))
               for i in range(30)]
        address_elapsed = time.monotonic() - started + user_elapsed  # the address budget refilled meanwhile too
    accepted = [node for node, r in sends if r.status_code == 200]
    # One burst plus the rate over the elapsed time, across both nodes (per node it was twice).
    assert 6 <= len(accepted) <= 6 + 0.5 * user_elapsed
    assert {r.json()["scope"] for _, r in sends if r.status_code == 429} == {"user"}
    assert {node for node, r in sends if r.status_code == 429} == {0, 1}
    unauthorized = [node for node, r in bad if r.status_code == 401]
    assert 6 <= len(unauthorized) <= 6 + 0.5 * address_elapsed
    assert {r.json()["scope"] for _, r in bad if r.status_code == 429} == {"address"}
    assert all(node.stop() == 0 for node in nodes)
