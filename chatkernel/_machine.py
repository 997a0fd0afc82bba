"""The base class every feature state machine derives from.

It fixes the python-statemachine settings the brief's pitfalls call for: the async engine
always (so invokes are asyncio tasks on the kernel's loop), seed-shaped trap states allowed,
and self-transitions that do not re-enter (which would restart invokes without cancelling them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from statemachine import StateChart

if TYPE_CHECKING:
    from ._actors import Actor

__all__ = ["Machine"]


class _AsyncEngineSelector:
    """A listener with one async callback: python-statemachine picks its engine from whether any
    recognised callback is async, and every kernel machine must run on the async engine."""

    async def after_transition(self) -> None:
        return None


_SELECTOR = _AsyncEngineSelector()


class Machine(StateChart):
    """A StateChart that runs on the async engine and knows the actor that drives it.

    ``snapshot_fields`` names the attributes that form the machine's context: they are saved in
    snapshots and written back on restore.
    """

    validate_trap_states = False
    validate_final_reachability = False
    enable_self_transition_entries = False
    snapshot_fields: ClassVar[tuple[str, ...]] = ()

    actor: Actor | None = None

    def __init__(self, *args: Any, listeners: list[object] | None = None, **kwargs: Any):
        super().__init__(*args, listeners=[_SELECTOR, *(listeners or [])], **kwargs)
