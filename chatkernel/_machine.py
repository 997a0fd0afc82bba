"""The base class every feature state machine derives from.

It fixes the python-statemachine settings the brief's pitfalls call for: the async engine
always (so invokes are asyncio tasks on the kernel's loop), seed-shaped trap states allowed,
self-transitions that do not re-enter (which would restart invokes without cancelling them),
and errors raised inside callbacks reported to the actor system instead of vanishing into an
unhandled ``error.execution`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from statemachine import StateChart
from statemachine.engines.async_ import AsyncEngine

from ._inspection import TransitionListener

if TYPE_CHECKING:
    from ._actors import Actor

__all__ = ["Machine"]


class _KernelEngine(AsyncEngine):
    """python-statemachine's async engine, telling its machine about every execution error.

    The engine turns a failing callback into an internal ``error.execution`` event; a machine
    may handle it with a transition, but either way the kernel must hear of it.
    """

    def _on_error_handler(self) -> Callable[[Exception], None] | None:
        queue_error = super()._on_error_handler()
        if queue_error is None:
            return None

        def handler(error: Exception) -> None:
            self.sm._execution_error(error)
            queue_error(error)

        return handler

    def _send_error_execution(self, error: Exception, trigger_data: Any) -> None:
        self.sm._execution_error(error)
        super()._send_error_execution(error, trigger_data)


class Machine(StateChart):
    """A StateChart that runs on the async engine and knows the actor that drives it.

    ``snapshot_fields`` names the attributes that form the machine's context: they are saved in
    snapshots and written back on restore.
    """

    validate_trap_states = False
    validate_final_reachability = False
    enable_self_transition_entries = False
    snapshot_fields: ClassVar[tuple[str, ...]] = ()
    #: States whose invoked work finishes by itself (loading, saving...): ``settle()`` waits them out.
    busy_states: ClassVar[frozenset[str]] = frozenset()

    actor: Actor | None = None

    def __init__(self, *args: Any, listeners: list[object] | None = None, **kwargs: Any):
        self._inspector = TransitionListener()
        super().__init__(*args, listeners=[self._inspector, *(listeners or [])], **kwargs)

    def _get_engine(self) -> AsyncEngine:
        return _KernelEngine(self)

    def send(self, event: str, *args: Any, **kwargs: Any) -> Any:
        # Invoked work that fails reports back with send("error.execution"), not through the
        # engine's error handlers: hear it here too.
        if event == "error.execution" and isinstance(kwargs.get("error"), Exception):
            self._execution_error(kwargs["error"])
        return super().send(event, *args, **kwargs)

    def is_busy(self) -> bool:
        """True while a step runs or a busy state's work is pending; override to add more."""
        processing = getattr(self._engine, "_processing", None)
        if processing is not None and processing.locked():
            return True
        return bool(self.busy_states) and not self.busy_states.isdisjoint(self.configuration_values)

    def _execution_error(self, error: Exception) -> None:
        actor = self.actor
        if actor is not None:
            actor.system._failed(actor, actor._current_event or "", actor._current_data, error)
