"""Reusable widgets: live views of a running chatkernel app for notebooks and the explorer."""

from ._monitor import KernelMonitor

__all__ = ["KernelMonitor"]
