"""The conversation pane for a conversation that may be a group's.

:class:`GroupConversationView` is :class:`~widgets._conversation.ConversationView` (the same
messages, callbacks and browser code, ``conversation.js``) with two synced traits:

``group``
    the conversation is a group's: each run of incoming messages is headed by its author's
    name, marked with a colour of its own, so a reader knows who wrote what.
``typing_text``
    the typing line as the chat words it ("Bob is typing…", "Bob and Carol are typing…");
    empty, the view says "<title> is typing…" as for a one-to-one conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

import traitlets as t

from ._conversation import ConversationView

__all__ = ["GroupConversationView", "typing_line"]


def typing_line(names: Sequence[str]) -> str:
    """"Bob is typing…", "Bob and Carol are typing…", "Bob, Carol and 2 others are typing…"."""
    names = [n for n in names if n]
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    if len(names) == 3:
        return f"{names[0]}, {names[1]} and {names[2]} are typing…"
    return f"{names[0]}, {names[1]} and {len(names) - 2} others are typing…"


class GroupConversationView(ConversationView):
    """A conversation view that names the author of incoming messages in a group."""

    group = t.Bool(False).tag(sync=True)
    typing_text = t.Unicode("").tag(sync=True)

    def __repr__(self) -> str:
        return "Group" + super().__repr__()[:-1] + f", group={self.group})"
