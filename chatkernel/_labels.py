"""Names people give things (a profile, a contact, a group): one rule for every feature.

A label is shown next to other labels, so it must not pass for another one or break the layout
it is shown in: it is NFC-normalized and trimmed, and control, format (bidi overrides,
zero-width), surrogate and line or paragraph separator characters are refused. The zero-width
joiner stays: emoji sequences need it.
"""

from __future__ import annotations

import unicodedata

from ._errors import ChatKernelError

__all__ = ["LabelError", "normalize_label"]

_ZWJ = "\u200d"


class LabelError(ChatKernelError, ValueError):
    """A label was refused; ``reason`` says why ("is empty", "has a control character ...")."""

    def __init__(self, value: object, reason: str):
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r} {reason}")


def normalize_label(value: object, *, max_chars: int) -> str:
    """``value`` NFC-normalized and trimmed, or :class:`LabelError`."""
    if not isinstance(value, str):
        raise LabelError(value, f"must be a string, not {type(value).__name__}")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise LabelError(value, "is empty")
    if len(text) > max_chars:
        raise LabelError(value, f"is {len(text)} characters; at most {max_chars}")
    for position, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and ch != _ZWJ):
            raise LabelError(value, f"has a control character U+{ord(ch):04X} at position {position}")
    return text
