"""Reusable widgets: live views of a running chatkernel app for notebooks and the explorer, and
what every feature's panel shares (``FeatureView``, ``feature_actor``, ``kv_table``, the theme
colours, and message bodies rendered as safe HTML: ``render_markdown``, ``plain_text``).

Names load on first use (a module ``__getattr__``): the Markdown functions need neither
ipywidgets nor anywidget, so a service that renders a preview does not pay ~140 ms for them.
"""

import importlib
import typing as _typing
from typing import Any

if _typing.TYPE_CHECKING:
    from ._conversation import ConversationView
    from ._conversation_group import GroupConversationView, typing_line
    from ._markdown import MarkdownError, plain_text
    from ._markdown import render as render_markdown
    from ._monitor import KernelMonitor
    from ._panel import BORDER, ERROR, MONO, MUTED, SUCCESS, TEXT, WARN, FeatureView, feature_actor, kv_table

__all__ = [
    "BORDER",
    "ConversationView",
    "ERROR",
    "FeatureView",
    "GroupConversationView",
    "KernelMonitor",
    "MONO",
    "MUTED",
    "MarkdownError",
    "SUCCESS",
    "TEXT",
    "WARN",
    "feature_actor",
    "kv_table",
    "plain_text",
    "render_markdown",
    "typing_line",
]

#: public name -> (module, name in it)
_WHERE = {
    "ConversationView": ("_conversation", "ConversationView"),
    "GroupConversationView": ("_conversation_group", "GroupConversationView"),
    "typing_line": ("_conversation_group", "typing_line"),
    "MarkdownError": ("_markdown", "MarkdownError"),
    "plain_text": ("_markdown", "plain_text"),
    "render_markdown": ("_markdown", "render"),
    "KernelMonitor": ("_monitor", "KernelMonitor"),
    **{name: ("_panel", name) for name in ("BORDER", "ERROR", "MONO", "MUTED", "SUCCESS", "TEXT", "WARN",
                                           "FeatureView", "feature_actor", "kv_table")},
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'widgets' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
