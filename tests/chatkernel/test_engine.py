"""The seams into python-statemachine's private engine API (chatkernel._engine): stopping
invoked work, telling whether a step runs, hearing every execution error, running invoked work
in a fresh causal chain. A library upgrade that moves them must fail here first."""

import asyncio

import pytest
from statemachine import State, StateChart
from statemachine.engines.async_ import AsyncEngine
from statemachine.invoke import InvokeManager

from chatkernel import Machine
from chatkernel._causality import current_cause
from chatkernel._engine import KernelEngine, is_stepping, stop_engine

pytestmark = pytest.mark.anyio


class Worker(Machine):
    idle = State(initial=True)
    working = State()
    failed = State()
    START = idle.to(working, on="note_cause")
    STOP = working.to(idle)
    BREAK = idle.to(None, on="explode")
    BREAK_HANDLED = idle.to(None, on="explode_handled")
    PROBE = idle.to(None, on="probe")
    error_execution = idle.to(failed, cond="handle_errors", on="recover")

    def __init__(self, **kw):
        self.errors = []
        self.handle = False
        self.recover_raises = False
        self.cause_in_transition = "unset"
        self.cause_in_invoke = "unset"
        self.invoke_started = asyncio.Event()
        self.invoke_cancelled = asyncio.Event()
        self.stepping = None
        super().__init__(**kw)

    def _execution_error(self, error):  # the machine's own hook, as an actor would see it
        self.errors.append(str(error))

    def handle_errors(self, **_):
        return self.handle

    def note_cause(self, **_):
        self.cause_in_transition = current_cause.get()

    async def on_invoke_working(self, **_):
        self.cause_in_invoke = current_cause.get()
        self.invoke_started.set()
        try:
            await asyncio.Event().wait()  # long-running: only cancellation ends it
        except asyncio.CancelledError:
            self.invoke_cancelled.set()
            raise

    def explode(self, **_):
        raise ValueError("callback broke")

    def explode_handled(self, **_):
        self.handle = True
        raise ValueError("handled broke")

    def recover(self, **_):
        if self.recover_raises:
            raise RuntimeError("the error handler broke too")

    def probe(self, **_):
        self.stepping = is_stepping(self)


async def started():
    machine = Worker()
    await machine.activate_initial_state()
    return machine


def test_the_private_seams_exist():
    assert callable(getattr(AsyncEngine, "_on_error_handler", None))
    assert callable(getattr(AsyncEngine, "_send_error_execution", None))
    assert callable(getattr(AsyncEngine, "stop", None))
    assert callable(getattr(InvokeManager, "_spawn_one_async", None))
    engine = Worker()._engine
    assert isinstance(engine, KernelEngine)
    assert hasattr(engine, "_processing") and hasattr(engine, "_invoke_manager")


async def test_is_stepping_only_during_a_step():
    machine = await started()
    assert not is_stepping(machine)
    await machine.send("PROBE")
    assert machine.stepping is True and not is_stepping(machine)


def test_is_stepping_on_a_plain_statechart():
    class Plain(StateChart):
        a = State(initial=True)
        b = State(final=True)
        GO = a.to(b, on="probe")

        def probe(self, **_):
            self.stepping = is_stepping(self)

    plain = Plain()
    assert not is_stepping(plain)
    plain.send("GO")
    assert plain.stepping is True and not is_stepping(plain)


async def test_every_execution_error_is_heard():
    machine = await started()
    await machine.send("BREAK")
    assert machine.errors == ["callback broke"] and list(machine.configuration_values) == ["idle"]
    # handled by an error_execution transition: the kernel still hears it
    await machine.send("BREAK_HANDLED")
    assert machine.errors == ["callback broke", "handled broke"]
    assert list(machine.configuration_values) == ["failed"]


async def test_an_error_in_the_error_handler_is_heard_too():
    machine = await started()
    machine.recover_raises = True
    await machine.send("BREAK_HANDLED")
    # the library ignores an error raised while handling error.execution (with a warning); we do not
    assert machine.errors == ["handled broke", "the error handler broke too"]


async def test_invoked_work_starts_a_new_causal_chain():
    machine = await started()
    token = current_cause.set((41, "someone"))
    try:
        await machine.send("START")
    finally:
        current_cause.reset(token)
    await asyncio.wait_for(machine.invoke_started.wait(), 5)
    assert machine.cause_in_transition == (41, "someone")  # callbacks of the step keep the cause
    assert machine.cause_in_invoke is None  # the invoked work does not


async def test_leaving_the_state_cancels_invoked_work():
    machine = await started()
    await machine.send("START")
    await asyncio.wait_for(machine.invoke_started.wait(), 5)
    await machine.send("STOP")
    await asyncio.wait_for(machine.invoke_cancelled.wait(), 5)
    assert list(machine.configuration_values) == ["idle"]


async def test_stop_engine_cancels_invoked_work():
    machine = await started()
    await machine.send("START")
    await asyncio.wait_for(machine.invoke_started.wait(), 5)
    [invocation] = machine._engine._invoke_manager._active.values()
    stop_engine(machine)
    await asyncio.wait_for(machine.invoke_cancelled.wait(), 5)
    for _ in range(5):
        await asyncio.sleep(0)
    assert invocation.task.done()
    assert list(machine.configuration_values) == ["working"]  # stopped where it was, no done.invoke
