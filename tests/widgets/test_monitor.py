import pytest

from chatkernel import Feature, MountResult, bootstrap
from widgets import KernelMonitor

pytestmark = pytest.mark.anyio


async def test_monitor_follows_the_bus_and_detaches_on_close():
    seen = []
    listener = Feature(id="listener", name="Listener", subscribed_events=["PING_SENT"],
                       on_mount=lambda ctx: MountResult(handler=seen.append))
    app = await bootstrap([listener], limits={"LOW": 1})
    monitor = KernelMonitor(app, events=5, interval=0.001)
    app.dispatch("PING_SENT", {"n": 1})
    app.dispatch("NOISE_MADE", None, "LOW")
    app.dispatch("NOISE_MADE", None, "LOW")
    await app.settle()
    monitor.refresh()
    assert "PING_SENT" in monitor.events_view.value and "dropped" in monitor.events_view.value
    assert "<td>app</td>" in monitor.actors_view.value and "ready" in monitor.actors_view.value
    assert "<td>LOW</td><td>1</td><td>1</td>" in monitor.bus_view.value
    assert repr(monitor) == "KernelMonitor(1 actors, 3 recent events)"
    monitor.close()
    app.dispatch("PING_SENT", {"n": 2})
    await app.settle()
    assert len(monitor._recent) == 3  # detached: the second PING_SENT was not seen
    assert app.bus._taps == ()
    await app.shutdown()


async def test_monitor_validates_its_arguments():
    app = await bootstrap([])
    with pytest.raises(TypeError, match="needs a chatkernel App"):
        KernelMonitor("app")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KernelMonitor(app, events=0)
    await app.shutdown()
