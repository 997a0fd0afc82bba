"""A relay restarted on a durable store (SQLite, Redis) loses no message and no token."""

from __future__ import annotations

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("store_spec", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
async def test_restart_loses_nothing(store_spec: str, client_for, test_config) -> None:
    async with EmbeddedRelay.start(store_spec, config=test_config) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        for i in range(5):
            assert (await alice.send(bob.user_id, f"m{i}", payload={"n": i})).status_code == 200
        first = (await bob.poll()).json()
        assert (await bob.poll(since=first[1]["id"])).status_code == 200  # m0, m1 acknowledged
    cursor = first[1]["id"]

    async with EmbeddedRelay.start(store_spec, config=test_config) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        alice.http = bob.http = http  # same identities and tokens, new relay process state
        events = (await bob.poll(since=cursor)).json()
        assert [e["payload"] for e in events] == [{"n": 2}, {"n": 3}, {"n": 4}]
        again = (await alice.send(bob.user_id, "m4", payload={"n": 4})).json()
        assert again["duplicate"] is True  # deduplication survives the restart too
        fresh = (await alice.send(bob.user_id, "m5")).json()
        later = (await bob.poll(since=events[-1]["id"])).json()
        assert [e["id"] for e in later] == [fresh["relayId"]]


@pytest.mark.parametrize("before", [1, 3])
async def test_a_memory_relay_restart_never_hides_a_new_message_behind_an_old_cursor(before, client_for,
                                                                                    test_config) -> None:
    """A memory relay forgets its mailboxes when it restarts, but its ids keep growing (they
    start from the clock): a cursor from before the restart is behind every new message, so
    polling with it delivers them. (Ids from 0 gave the first new message the very id a client
    had acknowledged when one message came before the restart: it was skipped, silently.)"""
    async with EmbeddedRelay.start(config=test_config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        for i in range(before):
            await alice.send(bob.user_id, f"m{i}")
        cursor = (await bob.poll()).json()[-1]["id"]
    async with EmbeddedRelay.start(config=test_config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice.http = bob.http = http
        await alice.connect()
        await bob.connect()
        sent = (await alice.send(bob.user_id, "new")).json()["relayId"]
        assert int(sent) > int(cursor)
        r = await bob.poll(since=cursor)
        assert r.status_code == 200 and [e["id"] for e in r.json()] == [sent]
