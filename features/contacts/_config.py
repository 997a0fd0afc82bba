"""The contacts feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ContactsConfig"]


@dataclass(frozen=True)
class ContactsConfig:
    """``presence_window_s``: a contact is ``online`` this long after their last message (the
    relay does not say who is connected, and should not: that would tell it who talks when).
    ``max_name_chars``: the longest name a contact can be given. ``max_contacts``: how many the
    list holds (an invite a minute for a year is far below it; a runaway script is not)."""

    presence_window_s: float = 300.0
    max_name_chars: int = 64
    max_contacts: int = 10_000
