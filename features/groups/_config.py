"""The groups feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GroupsConfig"]


@dataclass(frozen=True)
class GroupsConfig:
    """``max_name_chars``: the longest group name (messaging refuses longer ones too).
    ``max_members``: how many members a group holds besides us (messaging's sender-key fan-out
    is one sealed copy per member, so a send costs this many envelopes at most)."""

    max_name_chars: int = 64
    max_members: int = 63
