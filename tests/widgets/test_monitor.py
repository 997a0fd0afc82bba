import pytest
from statemachine import State

from typing import Any, NotRequired

from chatkernel import EventSpec, Feature, Machine, MountResult, bootstrap
from widgets import KernelMonitor
from widgets._monitor import _STYLE, Styled, _table

pytestmark = pytest.mark.anyio

#: What these tests dispatch as the user (the suite runs in strict mode).
EVENTS = [
    EventSpec("PING_SENT", "MEDIUM", "a ping", {"n": int}),
    EventSpec("NOISE_MADE", "LOW", "noise that may be dropped", {"x": NotRequired[Any]}),
    EventSpec("PROBE_SENT", "MEDIUM", "hostile text to render", {"html": str, "attr": str}),
]


async def test_monitor_follows_the_bus_and_detaches_on_close():
    seen = []
    listener = Feature(id="listener", name="Listener", subscribed_events=["PING_SENT"],
                       on_mount=lambda ctx: MountResult(handler=seen.append))
    app = await bootstrap([listener], limits={"LOW": 1}, events=EVENTS)
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


IMG, SPAN, QUOTE = "<img src=x onerror=alert(1)>", "<span onclick=x>", "\"'><script>"
RAW = ("<img", "<script", "<span onclick", "onerror=alert(1)>", "\"'>")


class Hostile(Machine):
    idle = State(initial=True, value=IMG)
    busy = State(value=QUOTE)
    poke = idle.to(busy)


async def test_monitor_escapes_every_dynamic_value():
    app = await bootstrap([], limits={"LOW": 1}, events=EVENTS)
    monitor = KernelMonitor(app, events=10, interval=0.001)
    await app.actors.spawn(Hostile(), IMG, type=QUOTE, feature=SPAN)
    await app.actors.spawn(Hostile(), QUOTE, type="child", feature=IMG, parent=IMG)
    app.bus.dispatch("PROBE_SENT", {"html": IMG, "attr": QUOTE}, source=SPAN)
    app.bus.dispatch("NOISE_MADE", {"x": SPAN}, "LOW", source=IMG)
    app.bus.dispatch("NOISE_MADE", {"x": SPAN}, "LOW", source=QUOTE)
    await app.settle()
    monitor.refresh()
    rendered = [child.value for child in monitor.children]
    for value in rendered:
        for raw in RAW:
            assert raw not in value
    actors, events = monitor.actors_view.value, monitor.events_view.value
    assert "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in actors  # the id
    assert "<td>&lt;span onclick=x&gt;</td>" in actors  # the feature
    assert "<td>&quot;&#x27;&gt;&lt;script&gt;</td>" in actors  # the type
    assert "<td>&lt;img src=x onerror=alert(1)&gt;</td><td>&lt;img src=x onerror=alert(1)&gt;</td>" in actors
    assert "<td>&lt;span onclick=x&gt;</td>" in events and "<td>&quot;&#x27;&gt;&lt;script&gt;</td>" in events
    # the one trusted piece of markup: the dropped marker, a span of a fixed class
    assert events.count('<span class="ck-dropped">dropped</span>') == 1
    assert events.count("<span") == 1
    await app.shutdown()


def test_cells_are_escaped_whatever_they_start_with():
    html = _table(["<b>h</b>"], [["<span class='ck-dropped'>x</span>"], [Styled("<i>\"t'</i>", "ck-dropped")]])
    assert "<th>&lt;b&gt;h&lt;/b&gt;</th>" in html
    assert "<td>&lt;span class=&#x27;ck-dropped&#x27;&gt;x&lt;/span&gt;</td>" in html
    assert '<td><span class="ck-dropped">&lt;i&gt;&quot;t&#x27;&lt;/i&gt;</span></td>' in html
    with pytest.raises(ValueError, match="plain CSS class"):
        Styled("x", 'a" onclick="x')


def test_monitor_style_follows_the_jupyterlab_theme():
    for var in ("--jp-layout-color2, #f3f3f3", "--jp-ui-font-color1, #000", "--jp-border-color2, #ddd",
                "--jp-error-color1, #b71c1c"):
        assert f"var({var})" in _STYLE
    assert "th{background:#" not in _STYLE
