"""The kernel monitor and the settings panel are readable in JupyterLab's light and dark themes.

One throw-away notebook (written into the server's work dir, never into ``notebooks/``) shows a
``KernelMonitor`` and a ``SettingsPanel`` whose relay URL is a loopback port nobody listens on,
tested and saved. Per theme, in the browser: every monitor header and title and the panel's
status lines have WCAG contrast >= 4.5 against the background they are painted on, the relay's
refusal is its own line in the theme's error colour, and a screenshot goes to
``artifacts/screenshots/themes-<light|dark>.png``.

    .venv/bin/python -m pytest tests/e2e/test_themes.py -p no:nbval -o addopts="-p no:cacheprovider --import-mode=importlib" -q
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

lab = sys.modules["_chatkernel_e2e_lab"]  # loaded by conftest.py, which pytest imports first

NOTEBOOK = "themes-probe.ipynb"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text

CELLS = [
    """\
import asyncio
import socket

import features.settings as settings_feature
from chatkernel import bootstrap
from widgets import KernelMonitor

with socket.socket() as probe:  # a loopback port nobody listens on: the relay refuses
    probe.bind(("127.0.0.1", 0))
    refusing = f"http://127.0.0.1:{probe.getsockname()[1]}"
app = await bootstrap([settings_feature.feature])
KernelMonitor(app)""",
    """\
panel = app.registry.get("settings").ui["SettingsPanel"]()(app)
panel.url.value = refusing
panel.test_button.click()
panel.save_button.click()  # queued behind the test
async with asyncio.timeout(30):
    while panel.status_kinds != ("info", "error"):
        await asyncio.sleep(0.02)
panel""",
]

# What a reader sees, per theme: text colour, the background under it (semi-transparent layers
# composited up to the first opaque one, the white canvas below all) and their WCAG contrast.
_JS_CONTRAST = """(selectors) => {
  const parse = (css) => {
    const m = /^rgba?\\(([^)]*)\\)$/.exec(css.trim());
    if (!m) throw new Error('unexpected colour syntax: ' + css);
    const [r, g, b, a = 1] = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {r, g, b, a};
  };
  const over = (top, below) => ({  // "source over" onto an opaque colour
    r: top.r * top.a + below.r * (1 - top.a), g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a), a: 1});
  const backdrop = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) layers.push(c);
      if (c.a >= 1) break;
    }
    return layers.reduceRight((below, layer) => over(layer, below), {r: 255, g: 255, b: 255, a: 1});
  };
  const luminance = ({r, g, b}) => {
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const hex = ({r, g, b}) => '#' + [r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const out = {};
  for (const [group, selector] of Object.entries(selectors)) {
    out[group] = [...document.querySelectorAll(selector)]
      .filter((n) => n.textContent.trim() && n.getClientRects().length)
      .map((n) => {
        const bg = backdrop(n);
        const fg = over(parse(getComputedStyle(n).color), bg);
        const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
        return {text: n.textContent.trim().slice(0, 120), classes: n.className, color: hex(fg),
                background: hex(bg), ratio: (hi + 0.05) / (lo + 0.05)};
      });
  }
  return out;
}"""

SELECTORS = {
    "monitor headers": ".ck-mon th",
    "monitor titles": ".ck-mon-title",
    "monitor cells": ".ck-mon td",
    "settings status": ".ck-settings-status .ck-status",
}

# The refusal line's colour is the theme's error colour: compare with a probe painted with it.
_JS_ERROR_COLOUR = """() => {
  const line = document.querySelector('.ck-settings-status .ck-status-error');
  if (!line) return null;
  const probe = document.createElement('span');
  probe.style.color = 'var(--jp-error-color1)';
  line.parentElement.appendChild(probe);
  const expected = getComputedStyle(probe).color;
  probe.remove();
  return {line: getComputedStyle(line).color, expected};
}"""

# A host that lacks JupyterLab's layout and border variables (other notebook frontends) while
# its text follows a dark theme: the monitor's fallbacks must not paint a light background.
_JS_DROP_LAYOUT_VARIABLES = """(drop) => {
  for (const n of document.querySelectorAll('.ck-mon')) {
    for (const v of ['--jp-layout-color2', '--jp-border-color2']) {
      if (drop) n.style.setProperty(v, 'initial'); else n.style.removeProperty(v);
    }
  }
}"""


def _write_notebook(root: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Throw-away notebook of `tests/e2e/test_themes.py`.")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(root / NOTEBOOK))
    return NOTEBOOK


def _low_contrast(measured: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [f"{group}: {m['text']!r} {m['color']} on {m['background']} = {m['ratio']:.2f}"
            for group, items in measured.items() for m in items if m["ratio"] < MIN_CONTRAST]


@pytest.mark.browser
def test_monitor_and_settings_panel_read_in_light_and_dark(lab_server: Any, lab_page: Any) -> None:
    page = lab_page
    name = _write_notebook(lab_server.root_dir)
    result = lab.LabResult(name=name)
    try:
        lab._open(page, lab_server.base_url, lab_server.token, name)
        lab._run_all(page, name, lab.RUN_TIMEOUT, result)
        lab._collect_cells(page, result)
        lab._check_rendering(page, result)
        problems = [str(p) for p in (*result.errors, result.run_error, *result.widget_problems) if p]
        assert not problems, "\n".join([*problems, result.summary()])
        assert result.widget_views_rendered == result.widget_views == 2, result.summary()
        page.evaluate("() => { const a = document.activeElement; if (a && a.blur) a.blur(); }")

        for key, theme in THEMES.items():
            lab.change_theme(page, theme)
            assert page.evaluate("() => document.body.dataset.jpThemeLight") == str(key == "light").lower()
            measured = page.evaluate(_JS_CONTRAST, SELECTORS)
            lab._screenshot_tall(page, lab.SCREENSHOT_DIR / f"themes-{key}.png")
            print(f"{theme}: lowest contrast " + ", ".join(  # shown with -rP
                f"{group} {min(m['ratio'] for m in items):.2f}" for group, items in measured.items() if items))

            assert len(measured["monitor headers"]) == 18 and len(measured["monitor titles"]) == 3
            status = measured["settings status"]
            assert [m["classes"] for m in status] == ["ck-status ck-status-info", "ck-status ck-status-error"]
            assert status[0]["text"].startswith("Saved signaling_url = http://127.0.0.1:")
            assert "failed its last test: connection refused by 127.0.0.1:" in status[1]["text"]
            colour = page.evaluate(_JS_ERROR_COLOUR)
            assert colour and colour["line"] == colour["expected"], colour
            low = _low_contrast(measured)
            assert not low, f"{theme}: text below {MIN_CONTRAST}:1\n" + "\n".join(low)

            page.evaluate(_JS_DROP_LAYOUT_VARIABLES, True)
            try:
                fallback = page.evaluate(_JS_CONTRAST, {"monitor headers": SELECTORS["monitor headers"]})
            finally:
                page.evaluate(_JS_DROP_LAYOUT_VARIABLES, False)
            low = _low_contrast(fallback)
            assert not low, f"{theme} without --jp-layout-color2/--jp-border-color2:\n" + "\n".join(low)
    except lab.LabTimeout as exc:
        lab.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(lab.SCREENSHOT_DIR / "themes-failed.png"), timeout=20_000)
        pytest.fail(f"{name}: {exc}", pytrace=False)
    finally:
        try:
            page.evaluate(lab._JS_SHUTDOWN)
        except Exception:  # noqa: BLE001 - the server's teardown deletes sessions anyway
            pass
