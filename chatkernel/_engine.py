"""The one module that touches python-statemachine's private engine API.

The library has no public way to stop a machine's invoked work, to tell whether a step is in
progress, to hear every execution error, or to choose the context invoked tasks run in. These
four seams are kept here, small and tested, so a library upgrade breaks one module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statemachine import StateChart
from statemachine.engines.async_ import AsyncEngine
from statemachine.invoke import InvokeManager

from ._causality import current_cause

__all__ = ["KernelEngine", "KernelEngineMixin", "is_stepping", "stop_engine"]

ErrorHook = Callable[[Exception], None]


class _FreshChainInvokes(InvokeManager):
    """Invoked work (a long poll, a timer) starts a new causal chain instead of inheriting the
    cause of the event that entered its state."""

    def _spawn_one_async(self, callback: Any, **kwargs: Any) -> None:
        token = current_cause.set(None)
        try:
            super()._spawn_one_async(callback, **kwargs)
        finally:
            current_cause.reset(token)


class KernelEngine(AsyncEngine):
    """python-statemachine's async engine, telling ``on_error`` about every execution error.

    The engine turns a failing callback into an internal ``error.execution`` event; a machine
    may handle it with a transition, but either way the kernel must hear of it.
    """

    def __init__(self, sm: StateChart, on_error: ErrorHook):
        self._kernel_on_error = on_error
        super().__init__(sm)
        self._invoke_manager = _FreshChainInvokes(self)

    def _on_error_handler(self) -> Callable[[Exception], None] | None:
        queue_error = super()._on_error_handler()
        if queue_error is None:
            return None
        hook = self._kernel_on_error

        def handler(error: Exception) -> None:
            hook(error)
            queue_error(error)

        return handler

    def _send_error_execution(self, error: Exception, trigger_data: Any) -> None:
        self._kernel_on_error(error)
        super()._send_error_execution(error, trigger_data)


class KernelEngineMixin:
    """Put before ``StateChart`` in a machine's bases: its engine becomes a :class:`KernelEngine`
    reporting errors to the machine's ``_execution_error(error)``."""

    def _get_engine(self) -> AsyncEngine:
        return KernelEngine(self, self._execution_error)  # type: ignore[arg-type,attr-defined]


def is_stepping(machine: StateChart) -> bool:
    """True while the engine is processing a macrostep."""
    processing = getattr(machine._engine, "_processing", None)
    return bool(processing is not None and processing.locked())


def stop_engine(machine: StateChart) -> None:
    """Cancel invoked work and stop processing (the library has no public ``stop()``)."""
    machine._engine.stop()
