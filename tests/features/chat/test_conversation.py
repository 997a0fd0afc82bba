"""What a conversation holds: paged history, replies, edits, tombstones, search, export, typing."""

from __future__ import annotations

import asyncio

import pytest

from features.chat.errors import InvalidChatInputError, UnknownMessageError

pytestmark = pytest.mark.anyio


async def _exchange(alice, bob, count):
    """``count`` messages from alice, all stored at bob."""
    ids = [(await alice.chat.send(bob.user_id, f"note {n}"))["id"] for n in range(count)]
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == count)
    return ids


async def test_history_opens_at_the_newest_page_and_pages_back(people):
    alice, bob = await people("Alice", "Bob", chat={"page_size": 10})
    ids = await _exchange(alice, bob, 25)
    first = await bob.chat.open(alice.user_id)
    assert [m["id"] for m in first] == ids[-10:]
    assert [m["id"] for m in await bob.chat.older(alice.user_id)] == ids[5:15]
    assert [m["id"] for m in await bob.chat.older(alice.user_id)] == ids[:5]
    assert await bob.chat.older(alice.user_id) == []
    assert [m["id"] for m in bob.chat.messages(alice.user_id)] == ids
    page = await bob.chat.history(alice.user_id, limit=3, before=first[0]["seq"])
    assert [m["id"] for m in page] == ids[12:15]


async def test_reply_edit_delete_show_on_both_sides(people):
    alice, bob = await people("Alice", "Bob")
    await bob.chat.open(alice.user_id)
    question = await alice.chat.send(bob.user_id, "Dinner at **8**?")
    await bob.chat.next_message(alice.user_id, timeout=10)
    answer = await bob.chat.send(alice.user_id, "yes!", reply_to=question["id"])
    assert answer["reply_to"] == {"id": question["id"], "author": "Alice", "preview": "Dinner at 8?"}
    got = await alice.chat.next_message(bob.user_id, timeout=10)
    assert got["reply_to"] == {"id": question["id"], "author": "Alice", "preview": "Dinner at 8?"}

    edited = await alice.chat.edit(bob.user_id, question["id"], "Dinner at 9?")
    assert (edited["text"], edited["edited"]) == ("Dinner at 9?", True)
    await bob.wait_for(lambda: bob.of("MESSAGE_EDITED"))
    shown = {m["id"]: m for m in bob.chat.messages(alice.user_id)}
    assert (shown[question["id"]]["text"], shown[question["id"]]["edited"]) == ("Dinner at 9?", True)

    await alice.chat.delete(bob.user_id, question["id"])
    await bob.wait_for(lambda: bob.of("MESSAGE_DELETED"))
    shown = {m["id"]: m for m in bob.chat.messages(alice.user_id)}
    assert (shown[question["id"]]["text"], shown[question["id"]]["deleted"]) == ("", True)
    theirs = await bob.chat.message(alice.user_id, answer["id"])
    assert theirs["reply_to"]["preview"] == "This message was deleted"
    with pytest.raises(UnknownMessageError):
        await bob.chat.edit(alice.user_id, question["id"], "not mine")
    with pytest.raises(UnknownMessageError):
        await bob.chat.send(alice.user_id, "to nothing", reply_to="no-such-message")


async def test_search_and_export(people):
    alice, bob = await people("Alice", "Bob")
    await alice.chat.send(bob.user_id, "the keys are under the *mat*")
    await alice.chat.send(bob.user_id, "or ask Carol")
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 2)
    reply = await bob.chat.send(alice.user_id, "found the KEYS")
    assert [m["text"] for m in await bob.chat.search(alice.user_id, "keys")] == \
        ["the keys are under the *mat*", "found the KEYS"]
    with pytest.raises(InvalidChatInputError):
        await bob.chat.search(alice.user_id, "")
    await bob.chat.delete(alice.user_id, reply["id"])
    text = await bob.chat.export(alice.user_id)
    assert text.startswith("# Conversation with Alice\n")
    assert "the keys are under the *mat*" in text and "*This message was deleted.*" in text
    assert "found the KEYS" not in text and "\n## " in text and "**Bob**" in text


async def test_typing_shows_then_goes(people):
    alice, bob = await people("Alice", "Bob", chat={"typing_timeout_s": 0.2})
    await alice.chat.send(bob.user_id, "hi")
    await bob.chat.next_message(alice.user_id, timeout=10)
    seen = []
    bob.chat.watch(alice.user_id, lambda kind, data: seen.append((kind, data.get("active"))))
    assert await alice.chat.typing(bob.user_id) is True
    assert await alice.chat.typing(bob.user_id) is False  # once per typing_interval_s
    await bob.wait_for(lambda: ("typing", False) in seen)
    assert seen == [("typing", True), ("typing", False)]
    assert bob.of("TYPING_STARTED") == [{"conversation": alice.user_id, "peer": alice.user_id}]
    assert len(await bob.chat.history(alice.user_id)) == 1


async def test_next_message_waits_for_anyone_and_times_out(people):
    alice, bob = await people("Alice", "Bob")
    with pytest.raises(asyncio.TimeoutError):
        await bob.chat.next_message(timeout=0.05)
    waiting = asyncio.ensure_future(bob.chat.next_message())
    await alice.chat.send(bob.user_id, "any news")
    assert (await asyncio.wait_for(waiting, 10))["text"] == "any news"
    with pytest.raises(InvalidChatInputError):
        await bob.chat.next_message(timeout=0)
