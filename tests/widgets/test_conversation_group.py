"""The group conversation view: its two traits and the typing line it is given."""

from __future__ import annotations

from widgets import GroupConversationView, typing_line


def test_typing_line_names_up_to_three_then_counts():
    assert typing_line([]) == "" and typing_line(["", ""]) == ""
    assert typing_line(["Bob"]) == "Bob is typing…"
    assert typing_line(["Bob", "Carol"]) == "Bob and Carol are typing…"
    assert typing_line(["Bob", "Carol", "Dave"]) == "Bob, Carol and Dave are typing…"
    assert typing_line(["Bob", "Carol", "Dave", "Erin"]) == "Bob, Carol and 2 others are typing…"


def test_the_group_traits_sync_and_show_in_the_repr():
    view = GroupConversationView(title="Flat")
    assert view.group is False and view.typing_text == ""
    view.group, view.typing_text = True, typing_line(["Bob"])
    state = view.get_state()
    assert state["group"] is True and state["typing_text"] == "Bob is typing…"
    assert repr(view).startswith("GroupConversationView(") and repr(view).endswith("group=True)")
