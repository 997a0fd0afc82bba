"""Group conversations through the chat: listed with their names, written to by every member,
each message under its author, ticks that wait for every member, edits and deletions, typing,
and a group left (or that removed us) read-only. Three people on a real relay on loopback."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from chatkernel import EventSpec
from features.chat.errors import (
    GroupClosedError,
    InvalidChatInputError,
    NotAContactError,
    UnknownGroupError,
    UnknownMessageError,
)
from features.chat.ui import ChatWindow

pytestmark = pytest.mark.anyio

GROUP_SELECTED = EventSpec("GROUP_SELECTED", "MEDIUM", "the groups feature's: a group was picked", {"group": str})


async def _book_club(alice, *others, name="Book club"):
    """Alice makes the group with ``others``; every member's chat knows it."""
    group = await alice.messaging.create_group(name, [p.user_id for p in others])
    for person in (alice, *others):
        await person.wait_for(lambda p=person: (p.chat.group(group) or {}).get("state") == "active")
    return group


async def _arrives(person, group, message_id):
    """The member's chat shows ``message_id`` (the MESSAGE_RECEIVED for it was said)."""
    await person.wait_for(lambda: any(e["conversation"] == group and e["id"] == message_id
                                      for e in person.of("MESSAGE_RECEIVED")))
    return await person.chat.message(group, message_id)


async def _state(person, group, state):
    await person.wait_for(lambda: (person.chat.group(group) or {}).get("state") == state)


async def test_every_member_lists_the_group_by_its_name(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await _book_club(alice, bob, carol)
    assert group.startswith("group:") and len(group) == 38
    for person in (alice, bob, carol):
        listed = {c["conversation"]: c for c in await person.chat.conversations()}
        entry = listed[group]
        assert (entry["title"], entry["group"], entry["contact"], entry["blocked"]) == ("Book club", True, False, False)
        assert (entry["unread"], entry["messages"]) == (0, 0)
        assert person.chat.title(group) == "Book club"
        assert sorted(person.chat.group(group)["members"]) == sorted(p.user_id for p in (alice, bob, carol))
        others = [c for c in listed.values() if not c["group"]]
        assert others and all(c["contact"] and c["group"] is False for c in others)


async def test_a_message_reaches_every_member_under_its_author_and_ticks_for_all(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await _book_club(alice, bob, carol)
    carol.chat.config = dataclasses.replace(carol.chat.config, delivery_receipts=False)  # Carol says nothing yet
    await alice.chat.open(group)
    sent = await alice.chat.send(group, "Chapter **3** for Friday?")
    assert (sent["conversation"], sent["author"], sent["direction"]) == (group, "Alice", "out")
    for person in (bob, carol):
        got = await _arrives(person, group, sent["id"])
        assert (got["author"], got["text"], got["direction"], got["status"]) == \
            ("Alice", "Chapter **3** for Friday?", "in", "received")
        assert person.chat.unread_counts() == {group: 1}
        [said] = [e for e in person.of("MESSAGE_RECEIVED") if e["id"] == sent["id"]]
        assert said["peer"] == alice.user_id  # the author, where the conversation is the group
    # Bob's device stored it, Carol's has not said so: not delivered yet
    await _settled(alice, group, sent["id"], bob.user_id, "delivered")
    assert (await alice.chat.message(group, sent["id"]))["status"] == "sent"
    assert not alice.of("MESSAGE_DELIVERED")
    # Carol read it: now every member has it (delivered), not every member read it
    assert await carol.chat.read(group) == [sent["id"]]
    assert carol.chat.unread_counts() == {}
    await alice.status_of(group, sent["id"], "delivered")
    await alice.wait_for(lambda: [e["ids"] for e in alice.of("MESSAGE_DELIVERED")] == [[sent["id"]]])
    assert not alice.of("MESSAGE_READ")
    # Bob read it too: read
    await bob.chat.read(group)
    await alice.status_of(group, sent["id"], "read")
    await alice.wait_for(lambda: [e["ids"] for e in alice.of("MESSAGE_READ")] == [[sent["id"]]])
    assert [m["status"] for m in alice.chat.messages(group)] == ["read"]
    assert not any(p.of("FEATURE_ERROR") for p in (alice, bob, carol))


async def _settled(person, group, message_id, member, status):
    """Until messaging's receipt of ``member`` for ``message_id`` says ``status``."""
    async with asyncio.timeout(10):
        while (await person.messaging.receipts(group, message_id)).get(member) != status:
            await asyncio.sleep(0.01)
    await person.app.settle()


async def test_replies_edits_and_deletions_reach_every_member(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await _book_club(alice, bob, carol)
    question = await alice.chat.send(group, "Who brings the cake?")
    await _arrives(bob, group, question["id"])
    answer = await bob.chat.send(group, "I do", reply_to=question["id"])
    assert answer["reply_to"] == {"id": question["id"], "author": "Alice", "preview": "Who brings the cake?"}
    for person in (alice, carol):
        got = await _arrives(person, group, answer["id"])
        assert got["author"] == "Bob"
        assert got["reply_to"] == {"id": question["id"], "author": "Alice", "preview": "Who brings the cake?"}

    await carol.chat.open(group)
    mine = await carol.chat.send(group, "I bring tea")
    for person in (alice, bob):
        await _arrives(person, group, mine["id"])
        await person.chat.open(group)
    edited = await carol.chat.edit(group, mine["id"], "I bring coffee")
    assert (edited["text"], edited["edited"]) == ("I bring coffee", True)
    for person in (alice, bob):
        await person.wait_for(lambda p=person: {m["id"]: m for m in p.chat.messages(group)}[mine["id"]]["text"]
                              == "I bring coffee")
        # the window changes first; the event follows on the bus
        await person.wait_for(lambda p=person: {"conversation": group, "id": mine["id"]} in p.of("MESSAGE_EDITED"))
    with pytest.raises(UnknownMessageError):
        await carol.chat.edit(group, answer["id"], "not mine")  # Bob's
    with pytest.raises(UnknownMessageError):
        await carol.chat.delete(group, question["id"])  # Alice's
    await carol.chat.delete(group, mine["id"])
    for person in (alice, bob):
        await person.wait_for(lambda p=person: {m["id"]: m for m in p.chat.messages(group)}[mine["id"]]["deleted"])
    assert [m["text"] for m in await bob.chat.search(group, "cake")] == ["Who brings the cake?"]
    text = await alice.chat.export(group)
    assert text.startswith("# Group Book club\n")
    assert "**Bob**" in text and "**Alice**" in text and "> Alice: Who brings the cake?" in text
    assert "*This message was deleted.*" in text and "coffee" not in text


async def test_typing_names_the_member(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", chat={"typing_timeout_s": 0.3})
    group = await _book_club(alice, bob, carol)
    first = await carol.chat.send(group, "hello")  # her sender key is with both: a notice can be read
    for person in (alice, bob):
        await _arrives(person, group, first["id"])
    seen = []
    bob.chat.watch(group, lambda kind, data: seen.append((kind, data.get("active"), data.get("names"))))
    assert await carol.chat.typing(group) is True
    await bob.wait_for(lambda: ("typing", False, []) in seen)
    assert [s for s in seen if s[0] == "typing"] == [("typing", True, ["Carol"]), ("typing", False, [])]
    assert bob.of("TYPING_STARTED") == [{"conversation": group, "peer": carol.user_id}]
    assert alice.of("TYPING_STARTED") == [{"conversation": group, "peer": carol.user_id}]
    assert carol.of("TYPING_STARTED") == []


async def test_a_removed_member_cannot_write_and_hears_nothing_new(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await _book_club(alice, bob, carol)
    before = await alice.chat.send(group, "before")
    await _arrives(carol, group, before["id"])
    window = ChatWindow(carol.app, conversation=group)
    await carol.app.settle()
    assert window.view.disabled is False
    await alice.messaging.remove_member(group, carol.user_id)
    await _state(carol, group, "removed")
    await carol.wait_for(lambda: window.view.disabled)  # the window shown redraws at once
    assert window.view.disabled_reason == "you were removed from this group: read only"
    window.close()
    await alice.wait_for(lambda: carol.user_id not in alice.chat.group(group)["members"])
    with pytest.raises(GroupClosedError, match="you were removed from this group") as refused:
        await carol.chat.send(group, "still here?")
    assert (refused.value.conversation, refused.value.state) == (group, "removed")
    with pytest.raises(GroupClosedError):
        await carol.chat.typing(group)
    after = await alice.chat.send(group, "after")
    await _arrives(bob, group, after["id"])
    await alice.status_of(group, after["id"], "delivered")  # Bob alone counts now
    await carol.app.settle()
    await asyncio.sleep(0.3)
    await carol.app.settle()
    assert [m["text"] for m in await carol.chat.history(group)] == ["before"]  # still readable
    assert [e["id"] for e in carol.of("MESSAGE_RECEIVED")] == [before["id"]]
    listed = {c["conversation"]: c for c in await carol.chat.conversations()}
    assert listed[group]["messages"] == 1  # a closed group with messages stays listed


async def test_a_group_we_left_is_read_only(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await _book_club(alice, bob, carol)
    mine = await bob.chat.send(group, "bye all")
    await _arrives(alice, group, mine["id"])
    await bob.messaging.leave_group(group)
    await _state(bob, group, "left")
    await alice.wait_for(lambda: bob.user_id not in alice.chat.group(group)["members"])
    for refused in (bob.chat.send(group, "one more"), bob.chat.edit(group, mine["id"], "changed"),
                    bob.chat.delete(group, mine["id"]), bob.chat.typing(group)):
        with pytest.raises(GroupClosedError, match="you left this group"):
            await refused
    assert [m["text"] for m in await bob.chat.history(group)] == ["bye all"]
    assert (await bob.chat.open(group))[0]["text"] == "bye all"
    window = ChatWindow(bob.app, conversation=group)
    try:
        await bob.app.settle()
        assert window.view.disabled is True and "you left this group" in window.view.disabled_reason
        assert any(value == group and "[left]" in label for label, value in window.picker.options)
    finally:
        window.close()
    # the others go on without Bob
    later = await alice.chat.send(group, "see you")
    await _arrives(carol, group, later["id"])
    await alice.status_of(group, later["id"], "delivered")


async def test_bad_group_ids_give_precise_errors(people):
    alice, bob = await people("Alice", "Bob")
    unknown = "group:" + "0" * 32
    for bad in ("group:", "group:" + "A" * 32, "group:" + "0" * 31, "group:" + "0" * 33, "group:xyz",
                "Group:" + "0" * 32, "group:" + "g" * 32):
        with pytest.raises(InvalidChatInputError, match="group id"):
            await alice.chat.send(bad, "hi")
        with pytest.raises(InvalidChatInputError):
            await alice.chat.open(bad)
    for call in (alice.chat.send(unknown, "hi"), alice.chat.open(unknown), alice.chat.history(unknown),
                 alice.chat.typing(unknown), alice.chat.read(unknown), alice.chat.search(unknown, "x")):
        with pytest.raises(UnknownGroupError) as refused:
            await call
        assert refused.value.conversation == unknown
    group = await _book_club(alice, bob)
    with pytest.raises(UnknownMessageError):
        await alice.chat.send(group, "to nothing", reply_to="no-such-message")
    with pytest.raises(InvalidChatInputError, match="is empty"):
        await alice.chat.send(group, "   ")
    assert await alice.chat.history(group) == []


async def test_a_member_not_in_our_contacts_is_named_by_a_short_id(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", befriend=False)
    for one, other in ((alice, bob), (bob, alice), (alice, carol), (carol, alice)):
        await one.contacts.add(other.service("identity").invite(other.signaling.url),
                               other.service("identity").display_name)
    group = await _book_club(alice, bob, carol)
    said = await carol.chat.send(group, "hello strangers")
    got = await _arrives(bob, group, said["id"])
    assert got["author"] == f"{carol.user_id[:8]}…"
    assert (await _arrives(alice, group, said["id"]))["author"] == "Carol"
    with pytest.raises(NotAContactError):  # the group is writable; the person, one to one, is not
        await bob.chat.send(carol.user_id, "hi")


async def test_the_window_names_authors_and_opens_on_group_selected(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await _book_club(alice, bob, carol)
    bob.app.declare(GROUP_SELECTED)  # the groups feature's event; here the notebook says it
    window = ChatWindow(bob.app)
    try:
        await bob.app.settle()
        assert any(value == group and label == "# Book club" for label, value in window.picker.options)
        bob.app.dispatch("GROUP_SELECTED", {"group": group})
        await bob.wait_for(lambda: bob.chat.is_open(group))
        window.show(group)
        await bob.app.settle()
        assert (window.view.group, window.view.title, window.view.disabled) == (True, "Book club", False)
        assert window.view.subtitle.startswith("3 members: you, Alice, Carol")
        first = await alice.chat.send(group, "one")
        await _arrives(bob, group, first["id"])
        second = await carol.chat.send(group, "two")
        await _arrives(bob, group, second["id"])
        await bob.wait_for(lambda: len(window.view.messages()) == 2)
        assert [(m["author"], m["text"]) for m in window.view.messages()] == [("Alice", "one"), ("Carol", "two")]
        assert bob.chat.is_open(group) and window.conversation == group  # new unread labels did not reopen it
        await alice.chat.typing(group)
        await bob.wait_for(lambda: window.view.typing_text == "Alice is typing…")
        window.show(alice.user_id)  # a one-to-one conversation: no author heads
        assert window.view.group is False and window.view.typing_text == ""
    finally:
        window.close()
    assert not bob.of("FEATURE_ERROR")


async def test_groups_are_read_again_after_a_restart(people):
    alice, bob = await people("Alice", "Bob")
    group = await _book_club(alice, bob)
    said = await alice.chat.send(group, "before the restart")
    await _arrives(bob, group, said["id"])
    bob = await people.restart(bob)
    await bob.wait_for(lambda: bob.chat.group(group) is not None and bob.contacts.is_contact(alice.user_id)
                       and bool(bob.chat.unread_counts()))  # the log-in's load reads groups, then the counts
    assert (bob.chat.title(group), bob.chat.group(group)["state"]) == ("Book club", "active")
    assert bob.chat.unread_counts() == {group: 1}
    assert [(m["author"], m["text"]) for m in await bob.chat.history(group)] == [("Alice", "before the restart")]
    reply = await bob.chat.send(group, "after the restart")
    assert (await _arrives(alice, group, reply["id"]))["author"] == "Bob"


async def test_a_blocked_member_is_not_shown_counted_or_told_in_a_group(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", chat={"typing_timeout_s": 0.3})
    group = await _book_club(alice, bob, carol)
    await alice.chat.open(group)
    await alice.contacts.block(carol.user_id)
    await alice.wait_for(lambda: any(e["user_id"] == carol.user_id for e in alice.of("CONTACT_BLOCKED")))

    hidden = await carol.chat.send(group, "from the blocked one")
    await carol.chat.typing(group)
    shown = await bob.chat.send(group, "from Bob")
    await _arrives(alice, group, shown["id"])
    await _arrives(bob, group, hidden["id"])  # the others see it as usual
    await _arrives(carol, group, shown["id"])
    await alice.wait_for(lambda: alice.chat.stats["ignored_blocked"] == 1)
    await alice.app.settle()
    assert [m["id"] for m in alice.chat.messages(group)] == [shown["id"]]
    assert [e["id"] for e in alice.of("MESSAGE_RECEIVED")] == [shown["id"]]
    assert alice.chat.unread_counts() == {group: 1}
    assert all(e["peer"] != carol.user_id for e in alice.of("TYPING_STARTED"))
    assert (await alice.chat.open(group))[-1]["id"] == shown["id"]  # opened again: still hidden

    assert sorted(await alice.chat.read(group)) == sorted([hidden["id"], shown["id"]])
    await carol.chat.read(group)
    await bob.status_of(group, shown["id"], "read")  # Bob is told Alice (and Carol) read him...
    await bob.chat.read(group)
    receipts = {}
    async with asyncio.timeout(10):
        while receipts.get(bob.user_id) != "read":
            receipts = await carol.messaging.receipts(group, hidden["id"])
            await asyncio.sleep(0.01)
    assert receipts == {bob.user_id: "read", alice.user_id: "sent"}  # ...Carol nothing from Alice
    assert (await carol.chat.message(group, hidden["id"]))["status"] == "sent"
    assert alice.chat.unread_counts() == {}

    # kept, not lost: unblocking shows it in the open window again, where it was
    await alice.contacts.unblock(carol.user_id)
    await alice.wait_for(lambda: [m["id"] for m in alice.chat.messages(group)] == [hidden["id"], shown["id"]])
    assert [m["author_id"] for m in alice.chat.messages(group)] == [carol.user_id, bob.user_id]


async def test_paging_back_goes_past_a_page_of_a_blocked_members_messages(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", chat={"page_size": 2})
    group = await _book_club(alice, bob, carol)
    await alice.contacts.block(carol.user_id)
    first = await bob.chat.send(group, "first")
    await _arrives(alice, group, first["id"])
    hidden = [(await carol.chat.send(group, f"hidden {n}"))["id"] for n in range(3)]
    for message_id in hidden:
        await _arrives(bob, group, message_id)
    last = await bob.chat.send(group, "last")
    await _arrives(alice, group, last["id"])
    await alice.wait_for(lambda: alice.chat.stats["ignored_blocked"] == 3)

    assert [m["text"] for m in await alice.chat.open(group)] == ["last"]
    pages = []
    for _ in range(4):  # bounded: two pages are left, the newer of them all hidden
        pages.append([m["text"] for m in await alice.chat.older(group)])
    assert pages == [["first"], [], [], []]  # one call goes past the hidden page
    assert [m["text"] for m in alice.chat.messages(group)] == ["first", "last"]
