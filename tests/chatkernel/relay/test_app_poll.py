"""Long-poll semantics over real HTTP: cursor acks, caps, parking, wake-ups, supersession.

Nothing here measures time: waiting is proven by the relay's own count of parked polls, and
"answered before its timeout" by a bounded wait far shorter than that timeout.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay

pytestmark = pytest.mark.anyio


async def wait_parked(relay: EmbeddedRelay, count: int) -> None:
    for _ in range(500):
        if relay.service.parked >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{relay.service.parked} polls parked, expected {count}")


async def test_poll_returns_pending_at_once_in_order(alice, bob) -> None:
    for i in range(3):
        await alice.send(bob.user_id, f"m{i}", payload={"n": i})
    events = (await bob.poll(timeout=30)).json()
    assert [e["payload"] for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert all(set(e) == {"id", "from", "ts", "payload"} and e["from"] == alice.user_id for e in events)


async def test_poll_times_out_with_empty_list(relay, bob) -> None:
    poll = asyncio.ensure_future(bob.poll(timeout=0.3))
    await wait_parked(relay, 1)  # it waited for messages instead of answering at once
    r = await poll
    assert r.status_code == 200 and r.json() == []
    assert relay.service.parked == 0


async def test_parked_poll_is_woken_by_a_send(relay, alice, bob) -> None:
    poll = asyncio.ensure_future(bob.poll(timeout=20))
    await wait_parked(relay, 1)
    await alice.send(bob.user_id, "m1", payload="hello")
    events = (await asyncio.wait_for(poll, 10)).json()  # well before the 20 s timeout
    assert [e["payload"] for e in events] == ["hello"]


async def test_since_acknowledges_and_deletes(relay, alice, bob) -> None:
    for i in range(4):
        await alice.send(bob.user_id, f"m{i}")
    events = (await bob.poll()).json()
    assert len(events) == 4
    assert [e["id"] for e in (await bob.poll(since=events[1]["id"])).json()] == [e["id"] for e in events[2:]]
    assert await relay.store.length(bob.user_id) == 2
    assert (await bob.poll(since=events[3]["id"])).json() == []
    assert await relay.store.length(bob.user_id) == 0


async def test_missing_since_replays_from_oldest_without_acking(relay, alice, bob) -> None:
    await alice.send(bob.user_id, "m1")
    first = (await bob.poll()).json()
    second = (await bob.poll()).json()
    assert first == second and len(first) == 1
    assert await relay.store.length(bob.user_id) == 1


async def test_at_most_100_events_per_poll(alice, bob) -> None:
    for i in range(105):
        await alice.send(bob.user_id, f"m{i}")
    first = (await bob.poll()).json()
    assert len(first) == 100
    rest = (await bob.poll(since=first[-1]["id"])).json()
    assert len(rest) == 5 and rest[0]["payload"] == "ciphertext"


async def test_at_most_one_mib_per_poll(alice, bob) -> None:
    blob = "x" * 60_000
    for i in range(20):  # 1.2 MB in all
        assert (await alice.send(bob.user_id, f"m{i}", payload=blob)).status_code == 200
    first = (await bob.poll()).json()
    assert 0 < len(first) < 20
    assert sum(len(e["payload"]) + 2 for e in first) <= 1024 * 1024
    rest = (await bob.poll(since=first[-1]["id"])).json()
    assert len(first) + len(rest) == 20


async def test_cursor_ahead_of_mailbox_is_422_and_loses_nothing(relay, alice, bob) -> None:
    await alice.send(bob.user_id, "m1")
    r = await bob.poll(since="8999999999999999")
    assert r.status_code == 422 and r.json()["field"] == "since" and r.json()["reason"] == "cursor_ahead"
    assert len((await bob.poll()).json()) == 1


async def test_second_poll_answers_the_first_with_empty_list(relay, alice, bob) -> None:
    first = asyncio.ensure_future(bob.poll(timeout=20))
    await wait_parked(relay, 1)
    second = asyncio.ensure_future(bob.poll(timeout=20))
    assert (await asyncio.wait_for(first, 10)).json() == []
    await wait_parked(relay, 1)
    await alice.send(bob.user_id, "m1")
    assert len((await asyncio.wait_for(second, 10)).json()) == 1


async def test_disconnect_wakes_the_parked_poll(relay, bob) -> None:
    poll = asyncio.ensure_future(bob.poll(timeout=20))
    await wait_parked(relay, 1)
    await bob.disconnect()
    assert (await asyncio.wait_for(poll, 10)).json() == []


async def test_polls_of_other_users_are_not_disturbed(relay, alice, bob) -> None:
    bobs = asyncio.ensure_future(bob.poll(timeout=20))
    await wait_parked(relay, 1)
    r = await alice.poll(timeout=0.2)
    assert r.json() == [] and not bobs.done()
    await alice.send(bob.user_id, "m1")
    assert len((await asyncio.wait_for(bobs, 10)).json()) == 1


async def test_timeout_is_capped(test_config, client_for) -> None:
    config = test_config.replace(poll_max_timeout=0.3, poll_default_timeout=0.2)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        bob = client_for(http)
        await bob.connect()
        r = await bob.poll(timeout=3600)
        assert r.status_code == 200 and r.json() == []


async def test_global_cap_on_parked_polls_is_503(test_config, client_for) -> None:
    async with EmbeddedRelay.start(config=test_config.replace(max_parked_polls=2)) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        users = [client_for(http) for _ in range(3)]
        for user in users:
            await user.connect()
        parked = [asyncio.ensure_future(u.poll(timeout=20)) for u in users[:2]]
        await wait_parked(relay, 2)
        r = await users[2].poll(timeout=5)
        assert r.status_code == 503 and r.json()["error"] == "too_many_polls"
        assert int(r.headers["retry-after"]) >= 1
        assert (await users[2].poll(timeout=0)).status_code == 200  # a non-parking poll still works
        await users[2].send(users[0].user_id, "m1")
        assert len((await asyncio.wait_for(parked[0], 10)).json()) == 1
        await users[1].disconnect()
        assert (await asyncio.wait_for(parked[1], 10)).json() == []


async def test_client_hanging_up_frees_its_parked_slot(relay, bob) -> None:
    async with httpx.AsyncClient(base_url=relay.url) as other:
        poll = asyncio.ensure_future(
            other.post("/poll", json={"userId": bob.user_id, "timeout": 20}, headers=bob.auth, timeout=30)
        )
        await wait_parked(relay, 1)
        poll.cancel()
        await asyncio.gather(poll, return_exceptions=True)
    for _ in range(500):
        if relay.service.parked == 0:
            break
        await asyncio.sleep(0.01)
    assert relay.service.parked == 0


async def test_old_messages_are_purged_by_age(test_config, client_for) -> None:
    config = test_config.replace(mailbox_max_age=0.2, purge_interval=0.05)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        await alice.send(bob.user_id, "m1")
        for _ in range(200):
            if await relay.store.length(bob.user_id) == 0:
                break
            await asyncio.sleep(0.02)
        assert (await bob.poll()).json() == []
