"""The chat feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChatConfig"]


@dataclass(frozen=True)
class ChatConfig:
    """``page_size``: messages a conversation opens with, and each older page (a screen or two;
    the rest stays on disk). ``read_receipts`` / ``delivery_receipts``: tell contacts when their
    messages were read / stored here (Signal's defaults; both are sealed like messages).
    ``typing_indicators``: say when we type and show when they do; ``typing_interval_s``: at
    most one typing notice this often; ``typing_timeout_s``: their "typing" line goes after this
    long without a notice. ``max_body_bytes``: the longest message (UTF-8), as messaging's."""

    page_size: int = 50
    read_receipts: bool = True
    delivery_receipts: bool = True
    typing_indicators: bool = True
    typing_interval_s: float = 3.0
    typing_timeout_s: float = 6.0
    max_body_bytes: int = 32_000
