import re

import pytest
from statemachine import State

from typing import Any, NotRequired

from chatkernel import EventSpec, Feature, Machine, MountResult, bootstrap
from widgets import KernelMonitor
from widgets import _panel as panel
from widgets._monitor import _STYLE, _TITLE_STYLE, Styled, _table

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


#: a colour as the widgets write it: a JupyterLab variable whose fallback follows the host's colours
THEMED = re.compile(r"var\(--jp-[a-z0-9-]+, (currentColor|transparent)\)")
DECLARATION = re.compile(r"(?:^|[;{\s])((?:background|border|color)[a-z-]*)\s*:\s*([^;}]+)")


def colours(css: str) -> list[tuple[str, str]]:
    """Every colour-bearing declaration in ``css``, as (property, value)."""
    return [(prop, value.strip()) for prop, value in DECLARATION.findall(css) if prop != "border-collapse"]


def test_monitor_style_follows_the_jupyterlab_theme():
    found = colours(_STYLE) + colours(_TITLE_STYLE)
    assert {prop for prop, _ in found} == {"color", "background", "border"}
    for prop, value in found:
        colour = value.removeprefix("1px solid ")
        assert THEMED.fullmatch(colour), f"{prop}: {value} is not a theme variable with a neutral fallback"
    # the header pairs the theme's strongest text with its header background, both from the theme
    assert ".ck-mon th{background:var(--jp-layout-color2, transparent);color:var(--jp-ui-font-color0, currentColor)}" in _STYLE
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|\b(white|black|green|gr[ae]y|red)\b", _STYLE + _TITLE_STYLE)


async def test_section_titles_use_the_theme_text_colour():
    app = await bootstrap([])
    monitor = KernelMonitor(app, events=3)
    titles = [child.value for child in monitor.children[::2]]
    assert titles == [f'<b class="ck-mon-title" style="{_TITLE_STYLE}">{text}</b>'
                      for text in ("Event bus", "Actors", "Last 3 events")]
    monitor.close()
    await app.shutdown()


def test_shared_panel_colours_are_theme_variables_with_neutral_fallbacks():
    for name in ("MUTED", "TEXT", "SUCCESS", "WARN", "ERROR", "BORDER"):
        assert THEMED.fullmatch(getattr(panel, name)), name
    # the shades with 4.5:1 contrast on JupyterLab Light's white (success-color1 has only 4.1:1)
    assert (panel.SUCCESS, panel.ERROR) == ("var(--jp-success-color0, currentColor)",
                                            "var(--jp-error-color1, currentColor)")
    html = panel.kv_table({"State": "ok"}, {"State": panel.SUCCESS})
    assert f"color:{panel.MUTED}" in html and f"color:{panel.SUCCESS}" in html
