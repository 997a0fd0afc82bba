"""Redis-only behaviour: the wake-up channel survives a dropped pub/sub connection."""

from __future__ import annotations

import pytest

from chatkernel.relay import RedisStore, open_store

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_wakeups_recover_after_the_pubsub_connection_drops(redis_url: str) -> None:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    await store.open()
    import redis.asyncio as aioredis

    admin = aioredis.from_url(redis_url.partition("?")[0])
    try:
        with store.listen("u" * 32) as listener:
            assert await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
            # Parked polls are told to look again, since wake-ups may have been lost...
            assert await listener.wait(5) == "resync"
            # ...and the channel comes back by itself.
            for _ in range(50):
                await store.notify("u" * 32, "ping")
                if await listener.wait(0.2) == "ping":
                    break
            else:
                raise AssertionError("wake-ups did not recover")
    finally:
        await admin.aclose()
        await store.close()


async def test_keys_stay_under_the_prefix(redis_url: str) -> None:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    await store.open()
    import redis.asyncio as aioredis

    admin = aioredis.from_url(redis_url.partition("?")[0], decode_responses=True)
    try:
        await store.append(to="b" * 32, sender="a" * 32, msg_id="m", payload="1", ts=1, max_len=10,
                           dedup_until=2**41)
        await store.put_token("h", "a" * 32, 2**41)
        await store.bind_key("a" * 32, "k")
        keys = [k async for k in admin.scan_iter(match=store.prefix + "*")]
        assert len(keys) == 4 and all(k.startswith(store.prefix) for k in keys)
    finally:
        await admin.aclose()
        await store.close()
