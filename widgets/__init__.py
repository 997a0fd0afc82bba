"""Reusable widgets: live views of a running chatkernel app for notebooks and the explorer, and
what every feature's panel shares (``FeatureView``, ``feature_actor``, ``kv_table``, the theme
colours, and message bodies rendered as safe HTML: ``render_markdown``, ``plain_text``)."""

from ._conversation import ConversationView
from ._markdown import MarkdownError, plain_text
from ._markdown import render as render_markdown
from ._monitor import KernelMonitor
from ._panel import BORDER, ERROR, MONO, MUTED, SUCCESS, TEXT, WARN, FeatureView, feature_actor, kv_table

__all__ = [
    "BORDER",
    "ConversationView",
    "ERROR",
    "FeatureView",
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
]
