"""Run one notebook in a real JupyterLab in headless Chromium and look at the result.

``_lab_server.py`` starts the server; ``conftest.py`` starts Chromium.  Both helper modules are
loaded by path (the suite runs with ``--import-mode=importlib`` and ``tests/`` is no package).

Every wait here is bounded.  ``CHATKERNEL_E2E_NOTEBOOKS=/some/dir`` runs the browser tests over
another folder of notebooks; ``CHATKERNEL_E2E_CHROMIUM`` points at another Chromium binary.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHATKERNEL_E2E_CHROMIUM", "/usr/bin/chromium"))  # Debian's
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
NOTEBOOKS_ENV = "CHATKERNEL_E2E_NOTEBOOKS"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1600}
# Chromium captured a 1400x29000 viewport correctly (about 5 s); taller notebooks are cut here.
MAX_SCREENSHOT_HEIGHT = 32000

OPEN_TIMEOUT = 60.0
KERNEL_TIMEOUT = 60.0
RUN_TIMEOUT = 180.0
RENDER_SETTLE_TIMEOUT = 15.0


def notebooks_dir() -> Path:
    """The folder whose notebooks the browser tests run (env override, else ``notebooks/``)."""
    override = os.environ.get(NOTEBOOKS_ENV)
    return Path(override).resolve() if override else REPO_ROOT / "notebooks"


def notebook_names(folder: Path | None = None) -> list[str]:
    """Sorted file names of the top-level ``*.ipynb`` files in ``folder``."""
    folder = notebooks_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("*.ipynb") if p.is_file())


@dataclass
class CellError:
    index: int
    ename: str
    evalue: str
    traceback: str
    source: str

    def __str__(self) -> str:
        first = self.source.strip().splitlines()[0] if self.source.strip() else ""
        return f"cell {self.index} ({first[:60]!r}): {self.ename}: {self.evalue}"


@dataclass
class LabResult:
    name: str
    code_cells: int = 0
    unexecuted: list[int] = field(default_factory=list)  # indexes of non-empty code cells
    empty_code_cells: list[int] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    stderr_outputs: int = 0
    widget_views: int = 0  # widget-view outputs in the cell models
    widget_views_rendered: int = 0
    empty_widget_cells: list[str] = field(default_factory=list)  # views that show nothing
    widget_problems: list[str] = field(default_factory=list)
    mermaid_diagrams: int = 0
    mermaid_problems: list[str] = field(default_factory=list)
    run_error: str | None = None
    screenshot: Path | None = None
    screenshot_no_code: Path | None = None
    screenshot_truncated: bool = False  # notebook taller than MAX_SCREENSHOT_HEIGHT
    console_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [
            f"{self.name}: {self.code_cells} code cells, {len(self.errors)} errors, "
            f"{self.stderr_outputs} stderr outputs, "
            f"{self.widget_views_rendered}/{self.widget_views} widget views rendered, "
            f"{self.mermaid_diagrams} mermaid diagrams",
            "timings: " + ", ".join(f"{k}={v:.1f}s" for k, v in self.timings.items()),
        ]
        if self.empty_widget_cells:
            parts.append("widget views showing nothing (closed later?): "
                         f"{self.empty_widget_cells}")
        if self.screenshot_truncated:
            parts.append(f"screenshots cut at {MAX_SCREENSHOT_HEIGHT} px (the notebook is taller)")
        if self.console_errors:
            parts.append("browser console errors:\n  " + "\n  ".join(self.console_errors[-10:]))
        return "\n".join(parts)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class LabTimeout(AssertionError):
    """A bounded wait in the browser ran out (the message says what was last seen)."""


def _poll(page: Any, script: str, ready: Any, timeout: float, what: str, arg: Any = None) -> Any:
    """Evaluate ``script`` every 250 ms until ``ready(value)``; LabTimeout shows the last value."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while True:
        value = page.evaluate(script, arg)
        if ready(value):
            return value
        if time.monotonic() >= deadline:
            raise LabTimeout(
                f"timed out after {timeout:.0f} s waiting for {what}; last seen: {value!r}")
        page.wait_for_timeout(250)


_JS_PANEL_STATE = """(name) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {app: false};
  const w = app.shell.currentWidget;
  const dialog = document.querySelector('.jp-Dialog');
  const st = {app: true, dialog: dialog ? dialog.innerText.slice(0, 300) : null};
  if (!w || !w.content || !w.sessionContext || !w.context) return {...st, panel: false};
  st.panel = w.context.path === name && !!w.node.closest('body') &&
             w.node.classList.contains('jp-NotebookPanel');
  st.path = w.context.path;
  const sc = w.sessionContext;
  const k = sc.session && sc.session.kernel;
  st.ready = !!w.context.isReady;
  st.kernel = k ? {status: k.status, connection: k.connectionStatus, name: k.name} : null;
  return st;
}"""

_JS_START_RUN = """() => {
  window.__ckRun = {done: false};
  const p = window.jupyterapp.commands.execute('notebook:run-all-cells');
  Promise.resolve(p).then(
    (ok) => { window.__ckRun = {done: true, ok: ok === undefined ? null : ok}; },
    (e) => { window.__ckRun = {done: true, error: String((e && e.message) || e)}; });
}"""

_JS_RUN_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const prompts = [...w.node.querySelectorAll('.jp-InputArea-prompt')]
    .filter((n) => n.textContent.includes('[*]')).length;
  let running = 0;
  const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type === 'code' && c.executionState === 'running') running++;
  }
  return {run: window.__ckRun, kernel: k ? k.status : null, busyPrompts: prompts, running};
}"""

_JS_COLLECT = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    const rec = {index: i, type: c.type, source: c.sharedModel.getSource()};
    if (c.type === 'code') {
      rec.executionCount = c.executionCount;
      rec.errors = []; rec.stderr = 0;
      for (let j = 0; j < c.outputs.length; j++) {
        const o = c.outputs.get(j).toJSON();
        if (o.output_type === 'error') {
          rec.errors.push({ename: o.ename, evalue: o.evalue,
                           traceback: (o.traceback || []).join('\\n')});
        } else if (o.output_type === 'stream' && o.name === 'stderr') {
          rec.stderr++;
        }
      }
    }
    out.push(rec);
  }
  return out;
}"""

_JS_RENDER_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const root = w.node;
  const MIME = 'application/vnd.jupyter.widget-view+json';
  const BAD = ['Error displaying widget', 'Loading widget...', 'Failed to create view',
               'Failed to load model class', 'Failed to load view class'];
  const st = {views: 0, rendered: 0, empty: [], pending: [], bad: []};
  const cells = w.content.widgets;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i];
    if (cell.model.type !== 'code' || !cell.outputArea) continue;
    const outs = cell.model.outputs;
    for (let j = 0; j < outs.length; j++) {
      const data = outs.get(j).data;
      if (!data || !data[MIME]) continue;
      st.views++;
      // One output-area child per output; the widget renderer is its .jp-OutputArea-output.
      const child = cell.outputArea.widgets[j];
      const node = child && child.node.querySelector('.jp-OutputArea-output');
      const text = node ? (node.textContent || '').trim() : '';
      const where = `cell ${i} [${cell.model.executionCount}] output ${j}`;
      if (!node) st.pending.push(`${where}: no output node`);
      else if (text.startsWith('Loading widget...')) st.pending.push(`${where}: Loading widget...`);
      else if (BAD.some((b) => text.startsWith(b))) st.bad.push(`${where}: ${text.slice(0, 300)}`);
      else if (node.querySelector('.lm-Widget') || node.classList.contains('lm-mod-hidden')) {
        st.rendered++;
        // A view whose model was closed later in the notebook (widget.close()) leaves nothing.
        if (node.getBoundingClientRect().height < 2) st.empty.push(where);
      }
      else if (!text) { st.rendered++; st.empty.push(where); }  // closed before it rendered
      else st.pending.push(`cell ${i} output ${j}: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }
  for (const n of root.querySelectorAll('.jupyter-widgets-error-widget, .jupyter-widgets')) {
    const text = (n.textContent || '').trim();
    if (n.classList.contains('jupyter-widgets-error-widget') || BAD.some((b) => text.startsWith(b)))
      st.bad.push('widget view: ' + text.slice(0, 300));
  }
  st.bad = [...new Set(st.bad)];
  const mermaid = [...root.querySelectorAll('.jp-RenderedMermaid')];
  st.mermaid = mermaid.length;
  st.mermaidPending = mermaid.filter(
    (n) => !n.querySelector('svg, img') && !n.classList.contains('jp-mod-warning')).length;
  st.mermaidBad = mermaid.filter((n) => n.classList.contains('jp-mod-warning'))
    .map((n) => (n.innerText || '').trim().slice(0, 300));
  return st;
}"""

_JS_OUTER_DIMS = """() => {
  const o = window.jupyterapp.shell.currentWidget.node.querySelector('.jp-WindowedPanel-outer');
  if (!o) return null;
  o.scrollTop = 0;
  return {scroll: o.scrollHeight, client: o.clientHeight, vh: window.innerHeight};
}"""

_JS_SHUTDOWN = """async () => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext) return 'no session';
  const timeout = new Promise((res) => setTimeout(() => res('timeout'), 10000));
  return await Promise.race([w.sessionContext.shutdown().then(() => 'ok'), timeout]);
}"""


def _stem(name: str) -> str:
    return Path(name).stem


def _screenshot_tall(page: Any, path: Path) -> bool:
    """Grow the viewport to the notebook's height, screenshot, restore; True if cut short."""
    dims = page.evaluate(_JS_OUTER_DIMS)
    height = VIEWPORT["height"]
    needed = 0
    if dims:
        needed = int(dims["vh"] - dims["client"] + dims["scroll"] + 8)
        height = max(VIEWPORT["height"], min(needed, MAX_SCREENSHOT_HEIGHT))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    # Lumino lays out on window resize; wait until the notebook no longer needs to scroll.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        d = page.evaluate(_JS_OUTER_DIMS)
        if not d or d["client"] >= d["scroll"] - 2 or height >= MAX_SCREENSHOT_HEIGHT:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(300)  # let the resized outputs (sliders, SVGs) repaint
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), timeout=60_000, animations="disabled", caret="hide")
    page.set_viewport_size(dict(VIEWPORT))
    return needed > MAX_SCREENSHOT_HEIGHT


def run_notebook_in_lab(
    page: Any,
    base_url: str,
    token: str,
    name: str,
    *,
    screenshot_dir: Path = SCREENSHOT_DIR,
    run_timeout: float = RUN_TIMEOUT,
) -> LabResult:
    """Open ``name`` in JupyterLab, run all cells, collect errors and take two screenshots.

    Never saves the notebook.  Raises ``LabTimeout`` if a bounded wait runs out (after saving
    what the page showed as ``<stem>-failed.png``).  The kernel is always shut down.
    """
    result = LabResult(name=name)
    t0 = time.monotonic()

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            result.console_errors.append(msg.text[:500])

    page.on("console", on_console)
    page.on("pageerror", lambda exc: result.console_errors.append(f"pageerror: {exc}"[:500]))
    try:
        _open(page, base_url, token, name)
        result.timings["open"] = time.monotonic() - t0
        t = time.monotonic()
        _run_all(page, name, run_timeout, result)
        result.timings["run"] = time.monotonic() - t
        t = time.monotonic()
        _collect_cells(page, result)
        _check_rendering(page, result)
        result.timings["render"] = time.monotonic() - t
        t = time.monotonic()
        _take_screenshots(page, screenshot_dir, name, result)
        result.timings["screenshots"] = time.monotonic() - t
    except LabTimeout:
        try:
            screenshot_dir.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot_dir / f"{_stem(name)}-failed.png"), timeout=20_000)
        except Exception:  # noqa: BLE001 - best effort; the timeout is the real failure
            pass
        raise
    finally:
        t = time.monotonic()
        try:
            page.evaluate(_JS_SHUTDOWN)
        except Exception:  # noqa: BLE001 - the server's teardown deletes sessions anyway
            pass
        result.timings["shutdown"] = time.monotonic() - t
        result.timings["total"] = time.monotonic() - t0
    return result


def _open(page: Any, base_url: str, token: str, name: str) -> None:
    page.goto(
        f"{base_url}/lab/tree/{quote(name)}?token={token}",
        wait_until="domcontentloaded",
        timeout=OPEN_TIMEOUT * 1000,
    )
    # The restored workspace may hold earlier notebooks' panels, hidden: wait for a shown one.
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden)", timeout=OPEN_TIMEOUT * 1000)

    def kernel_ready(st: dict[str, Any]) -> bool:
        if st.get("dialog"):  # e.g. "Select Kernel": take the default choice
            button = page.locator(".jp-Dialog .jp-mod-accept")
            if button.count():
                button.first.click(timeout=5000)
            return False
        k = st.get("kernel")
        return bool(st.get("panel") and st.get("ready") and k
                    and k["connection"] == "connected" and k["status"] == "idle")

    _poll(page, _JS_PANEL_STATE, kernel_ready, KERNEL_TIMEOUT,
          f"{name} to open with a connected idle kernel", name)
    # More room for the notebook in the screenshots.
    page.evaluate("() => { window.jupyterapp.shell.collapseLeft(); "
                  "window.jupyterapp.shell.collapseRight(); }")


_JS_CELL_STATES = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    let last = '';
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'stream') last = [].concat(o.text).join('');
      else if (o.output_type === 'error') last = `${o.ename}: ${o.evalue}`;
    }
    out.push(`cell ${i} [${c.executionCount === null ? ' ' : c.executionCount}] `
             + `${c.executionState}: ${last.replace(/\\s+/g, " ").trim().slice(-300)}`);
  }
  const dialog = document.querySelector('.jp-Dialog');  // e.g. "the kernel appears to have died"
  if (dialog) out.push(`dialog: ${dialog.textContent.replace(/\\s+/g, " ").trim().slice(0, 300)}`);
  return out;
}"""


def _run_all(page: Any, name: str, timeout: float, result: LabResult) -> None:
    page.evaluate(_JS_START_RUN)
    try:
        state = _poll(
            page,
            _JS_RUN_STATE,
            lambda s: bool(s["run"] and s["run"]["done"] and s["kernel"] == "idle"
                           and s["busyPrompts"] == 0 and s["running"] == 0),
            timeout,
            f"run-all-cells of {name} to finish",
        )
    except LabTimeout as exc:  # which cell hangs, and what each one printed last
        raise LabTimeout(f"{exc}\n  " + "\n  ".join(page.evaluate(_JS_CELL_STATES))) from None
    result.run_error = state["run"].get("error")


def _collect_cells(page: Any, result: LabResult) -> None:
    for rec in page.evaluate(_JS_COLLECT):
        if rec["type"] != "code":
            continue
        result.code_cells += 1
        if not rec["source"].strip():
            result.empty_code_cells.append(rec["index"])  # JupyterLab never numbers these
        elif rec["executionCount"] is None:
            result.unexecuted.append(rec["index"])
        result.stderr_outputs += rec["stderr"]
        for err in rec["errors"]:
            result.errors.append(CellError(
                index=rec["index"], ename=err["ename"], evalue=err["evalue"],
                traceback=_ANSI.sub("", err["traceback"]), source=rec["source"]))


def _check_rendering(page: Any, result: LabResult) -> None:
    # Widgets and Mermaid render asynchronously after the kernel went idle: wait, bounded.
    try:
        render = _poll(
            page, _JS_RENDER_STATE,
            lambda s: not s["pending"] and s["mermaidPending"] == 0,  # "bad" ones are final
            RENDER_SETTLE_TIMEOUT, "widgets and diagrams to render")
    except LabTimeout:
        render = page.evaluate(_JS_RENDER_STATE)
    result.widget_views = render["views"]
    result.widget_views_rendered = render["rendered"]
    result.empty_widget_cells = list(render["empty"])
    result.widget_problems = list(render["bad"]) + [
        f"still not rendered after {RENDER_SETTLE_TIMEOUT:.0f} s: {p}" for p in render["pending"]]
    # anywidget reports a failing render() only on the console (the view stays empty).
    result.widget_problems += [
        f"browser console: {line}" for line in result.console_errors if "anywidget" in line]
    result.mermaid_diagrams = render["mermaid"]
    result.mermaid_problems = [f"Mermaid could not render: {t}" for t in render["mermaidBad"]]
    if render["mermaidPending"]:
        result.mermaid_problems.append(f"{render['mermaidPending']} diagram(s) never rendered")


def _take_screenshots(page: Any, screenshot_dir: Path, name: str, result: LabResult) -> None:
    page.evaluate("() => { const a = document.activeElement; if (a && a.blur) a.blur(); }")
    result.screenshot = screenshot_dir / f"{_stem(name)}.png"
    result.screenshot_truncated = _screenshot_tall(page, result.screenshot)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:hide-all-cell-code')")
    result.screenshot_no_code = screenshot_dir / f"{_stem(name)}-no-code.png"
    _screenshot_tall(page, result.screenshot_no_code)


THEME_TIMEOUT = 30.0

_JS_CHANGE_THEME = """async (theme) => {
  const done = window.jupyterapp.commands.execute('apputils:change-theme', {theme});
  const timeout = new Promise((res) => setTimeout(() => res('timeout'), 20000));
  return await Promise.race([Promise.resolve(done).then(() => 'ok', (e) => String(e)), timeout]);
}"""


def change_theme(page: Any, theme: str, timeout: float = THEME_TIMEOUT) -> None:
    """Switch JupyterLab to ``theme`` (e.g. "JupyterLab Dark") and wait until its CSS is applied.

    The theme manager sets ``data-jp-theme-name`` on the body once the theme's stylesheet loaded.
    """
    outcome = page.evaluate(_JS_CHANGE_THEME, theme)
    if outcome != "ok":
        raise LabTimeout(f"apputils:change-theme to {theme!r} did not finish: {outcome}")
    _poll(page, "() => document.body.dataset.jpThemeName", lambda name: name == theme, timeout,
          f"the theme {theme!r} to be applied")
    page.wait_for_timeout(300)  # let widgets repaint with the new variables
