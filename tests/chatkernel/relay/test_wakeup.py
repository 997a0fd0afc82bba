"""Wake-ups queue in order and a closed listener hears nothing more."""

from __future__ import annotations

import pytest

from chatkernel.relay._stores._wakeup import WakeupHub

pytestmark = pytest.mark.anyio


async def test_reasons_arrive_in_order_even_before_waiting() -> None:
    hub = WakeupHub()
    with hub.listen("u") as listener:
        hub.dispatch("u", "one")
        hub.dispatch("u", "two")
        hub.dispatch("other", "x")
        assert [await listener.wait(1), await listener.wait(1), await listener.wait(0.01)] == ["one", "two", None]


async def test_close_unregisters() -> None:
    hub = WakeupHub()
    listener = hub.listen("u")
    assert len(hub) == 1
    listener.close()
    listener.close()
    assert len(hub) == 0
    hub.dispatch("u", "late")
    assert await listener.wait(0.01) is None


async def test_dispatch_all_reaches_everyone() -> None:
    hub = WakeupHub()
    with hub.listen("a") as a, hub.listen("b") as b:
        hub.dispatch_all("shutdown")
        assert await a.wait(1) == "shutdown" and await b.wait(1) == "shutdown"
