"""Reusable widgets: live views of a running chatkernel app for notebooks and the explorer, and
what every feature's panel shares (``FeatureView``, ``feature_actor``, ``kv_table`` and the
theme colours)."""

from ._monitor import KernelMonitor
from ._panel import BORDER, ERROR, MONO, MUTED, SUCCESS, TEXT, WARN, FeatureView, feature_actor, kv_table

__all__ = [
    "BORDER",
    "ERROR",
    "FeatureView",
    "KernelMonitor",
    "MONO",
    "MUTED",
    "SUCCESS",
    "TEXT",
    "WARN",
    "feature_actor",
    "kv_table",
]
