"""A window whose page is read across awaits still ends up with what moved meanwhile: the rows
read may predate a receipt, an arrival or our own send, and nothing of them may be lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from features.chat._window import MISSED_MAX, Conversation

pytestmark = pytest.mark.anyio


def _ids(person: Any, event_type: str) -> set[str]:
    return {i for e in person.of(event_type) for i in e["ids"]}


def _stale_pages(monkeypatch: pytest.MonkeyPatch, person: Any) -> tuple[asyncio.Event, asyncio.Event]:
    """Make ``person``'s next page read take its rows at once but hand them over only when the
    returned gate opens (``read`` says the rows were taken): what happens in between postdates them."""
    messaging = person.chat.messaging
    real = messaging.history
    read, gate = asyncio.Event(), asyncio.Event()

    async def history(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = await real(*args, **kwargs)
        if not read.is_set():
            read.set()
            await gate.wait()
        return rows

    monkeypatch.setattr(messaging, "history", history)
    return read, gate


async def test_receipts_sends_and_arrivals_during_the_first_page_read_are_in_the_window(people, monkeypatch):
    alice, bob = await people("Alice", "Bob")
    earlier = await alice.chat.send(bob.user_id, "before the window opens")
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 1)
    read, gate = _stale_pages(monkeypatch, alice)
    opening = asyncio.ensure_future(alice.chat.open(bob.user_id))
    await read.wait()  # the page holds `earlier` as "delivered" at most, and nothing after it

    hello = await alice.chat.send(bob.user_id, "sent while the page is read")
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 2)
    await bob.chat.read(alice.user_id)
    answer = await bob.chat.send(alice.user_id, "received while the page is read")
    await alice.wait_for(lambda: {earlier["id"], hello["id"]} <= _ids(alice, "MESSAGE_READ")
                         and answer["id"] in {e["id"] for e in alice.of("MESSAGE_RECEIVED")})
    assert not opening.done()
    gate.set()

    shown = await opening
    assert [(m["id"], m["status"]) for m in shown] == [
        (earlier["id"], "read"), (hello["id"], "read"), (answer["id"], "received")]
    assert alice.chat.messages(bob.user_id) == shown
    later = await alice.chat.send(bob.user_id, "after the window opened")  # and it goes on as usual
    await alice.wait_for(lambda: alice.chat.messages(bob.user_id)[-1]["status"] == "delivered")
    assert alice.chat.messages(bob.user_id)[-1]["id"] == later["id"]


async def test_a_receipt_during_an_older_page_read_reaches_that_page(people, monkeypatch):
    alice, bob = await people("Alice", "Bob", chat={"page_size": 2})
    ids = [(await alice.chat.send(bob.user_id, f"note {n}"))["id"] for n in range(4)]
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 4)
    await alice.wait_for(lambda: _ids(alice, "MESSAGE_DELIVERED") == set(ids))
    assert [m["id"] for m in await alice.chat.open(bob.user_id)] == ids[2:]
    read, gate = _stale_pages(monkeypatch, alice)
    paging = asyncio.ensure_future(alice.chat.older(bob.user_id))
    await read.wait()  # the older page holds ids[:2] as "delivered"

    await bob.chat.read(alice.user_id)
    await alice.wait_for(lambda: _ids(alice, "MESSAGE_READ") == set(ids))
    gate.set()

    assert [(m["id"], m["status"]) for m in await paging] == [(ids[0], "read"), (ids[1], "read")]
    assert [(m["id"], m["status"]) for m in alice.chat.messages(bob.user_id)] == [(i, "read") for i in ids]


async def test_two_page_reads_at_once_load_each_page_once(people):
    alice, bob = await people("Alice", "Bob", chat={"page_size": 2})
    ids = [(await alice.chat.send(bob.user_id, f"note {n}"))["id"] for n in range(6)]
    await alice.chat.open(bob.user_id)
    first, second = await asyncio.gather(alice.chat.older(bob.user_id), alice.chat.older(bob.user_id))
    assert [m["id"] for m in first] == ids[2:4] and [m["id"] for m in second] == ids[:2]
    assert [m["id"] for m in alice.chat.messages(bob.user_id)] == ids


def test_a_window_notes_only_while_a_page_is_read_and_gives_up_on_ids_past_its_bound():
    window = Conversation("peer")
    window.note("a")
    assert window.take_missed() == set()
    window.reading = True
    window.note("a", "b")
    assert window.take_missed() == {"a", "b"} and window.take_missed() == set()
    window.note(*(f"m{n}" for n in range(MISSED_MAX + 1)))
    assert window.overflow and window.missed == set()
    window.note("late")
    assert window.missed == set()  # the page is read again whole instead


async def test_a_message_sent_while_the_window_loads_is_in_it_when_send_returns(people, monkeypatch):
    alice, bob = await people("Alice", "Bob")
    messaging = alice.chat.messaging
    real, gate = messaging.send, asyncio.Event()

    async def held(*args, **kwargs):
        await gate.wait()  # the window loads before this send commits: its page lacks the message
        return await real(*args, **kwargs)

    monkeypatch.setattr(messaging, "send", held)
    alice.chat.watch(bob.user_id, lambda kind, data: None)  # a window exists, not loaded yet
    sending = asyncio.ensure_future(alice.chat.send(bob.user_id, "sent while the window loads"))
    await asyncio.sleep(0.05)
    assert await alice.chat.open(bob.user_id) == []
    gate.set()
    sent = await sending
    # at once, not on a later "sent" (which a fast delivery receipt may make messaging skip)
    assert [m["id"] for m in alice.chat.messages(bob.user_id)] == [sent["id"]]


async def test_a_receipt_for_a_message_the_window_lacks_brings_it_in_only_if_newer(people):
    alice, bob = await people("Alice", "Bob", chat={"page_size": 2})
    ids = [(await alice.chat.send(bob.user_id, f"note {n}"))["id"] for n in range(4)]
    await alice.wait_for(lambda: _ids(alice, "MESSAGE_DELIVERED") == set(ids))
    await alice.chat.open(bob.user_id)
    window = alice.chat._conversations[bob.user_id]
    window.drop(ids[3])  # as if it were sent while the window loaded, and missed
    await alice.chat.receipt(bob.user_id, "read", [ids[0], ids[3]])  # what the conversation actor calls
    assert [m["id"] for m in alice.chat.messages(bob.user_id)] == [ids[2], ids[3]]  # ids[0] stays paged out
    assert alice.chat.messages(bob.user_id)[-1]["status"] == "delivered"  # as stored: the call was made up
