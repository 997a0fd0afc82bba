"""Conversation view in a real JupyterLab: scrolling 10,000 messages, and opening them.

A throw-away JupyterLab (``tests/e2e/_lab_server.py``) and Debian's headless Chromium (Playwright,
``/usr/bin/chromium``) show a ``ConversationView``. Two figures:

- **Scroll**: the list is scrolled from the bottom to the top and back, one bounded step per
  animation frame (a bounded count of steps, and a time budget), while the page records the time
  between ``requestAnimationFrame`` callbacks. The peer is the plain way: the same 10,000 rows, same
  markup and stylesheet, all in the DOM (no virtualization), in the same page and the same run.
  Frame intervals are vsync-quantized (they jitter around 16.7 ms), so a frame whose interval is
  over 1.5 x 16.7 ms counts as dropped; the raw share over 16.7 ms is printed too, and so is each
  frame's work (from its rAF to the first task after its paint), which vsync does not hide.
- **Open**: from the kernel's ``set_messages`` call (wall clock, which kernel and browser share on
  one machine) to the first animation frame after the first rows entered the DOM; the peer is
  building and painting the plain list of 10,000 rows from data already in the page.

Run alone: ``.venv/bin/python bench/bench_conversation_view.py [--quick]``. Needs Playwright and
``/usr/bin/chromium``; figures from a headless browser without a GPU are relative, not absolute.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from _util import SummaryRow, parse_args, percentile, print_header, text_table

ROOT = Path(__file__).resolve().parents[1]
FRAME_MS = 1000 / 60
OPEN_TARGET_MS = 1000.0
NOTEBOOK = "bench-conversation.ipynb"


def _load(name: str) -> ModuleType:
    """tests/e2e's helper modules, by path (tests/ is no package), under conftest's names."""
    key = f"_chatkernel_e2e{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "tests" / "e2e" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


CELL = """\
import time
from widgets import ConversationView, render_markdown

now = int(time.time() * 1000)

def message(i):
    out = i % 3 == 0
    text = f"Message **{i}**: " + ("a longer line that wraps " * (i % 5)) + "end"
    return {"id": f"m{i}", "direction": "out" if out else "in", "author": "Alice" if out else "Bob",
            "text": text, "html": render_markdown(text), "sent_at": now - (COUNT - i) * 60_000,
            "status": "read" if out else "received", "edited": False, "deleted": False, "reply_to": None}

msgs = [message(i) for i in range(COUNT)]
view = ConversationView(title="Bench")
view"""

_JS_EXECUTE = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  let out = '';
  const future = kernel.requestExecute({code, store_history: false});
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
}"""

# Wall-clock ms (what the kernel's time.time() reads) when the first rows enter the DOM, and at
# the next animation frame, when they have been painted.
_JS_WATCH_RESET = """() => {
  const canvas = document.querySelector('.ck-conv-canvas');
  const now = () => performance.timeOrigin + performance.now();
  window.__ckReset = {};
  const mo = new MutationObserver(() => {
    if (window.__ckReset.dom || !canvas.querySelector('.ck-conv-row')) return;
    window.__ckReset.dom = now();
    mo.disconnect();
    requestAnimationFrame(() => { window.__ckReset.painted = now(); });
  });
  mo.observe(canvas, {childList: true});
}"""

# Scroll bottom -> top -> bottom, one step per frame; bounded by steps and by budget_ms.
_JS_SCROLL = """async ({selector, maxSteps, budgetMs}) => {
  const el = document.querySelector(selector);
  // Resolves after the frame rendered: {t: the frame's rAF time, work: rAF start -> after paint}.
  const frame = () => new Promise((res) => requestAnimationFrame((t) => {
    const start = performance.now();
    const channel = new MessageChannel();
    channel.port1.onmessage = () => res({t, work: performance.now() - start});
    channel.port2.postMessage(0);
  }));
  el.scrollTop = el.scrollHeight;
  for (let i = 0; i < 10; i++) await frame();
  const steps = Math.max(2, Math.min(maxSteps, Math.ceil((el.scrollHeight - el.clientHeight) / 400)));
  const frames = [];
  const work = [];
  let rowsMax = 0;
  let last = (await frame()).t;
  const start = last;
  for (let k = 1; k <= 2 * steps; k++) {
    const fraction = k <= steps ? 1 - k / steps : (k - steps) / steps;
    el.scrollTop = fraction * (el.scrollHeight - el.clientHeight);
    const f = await frame();
    const t = f.t;
    frames.push(t - last);
    work.push(f.work);
    last = t;
    rowsMax = Math.max(rowsMax, el.querySelectorAll('.ck-conv-row, .ck-plain-row').length);
    if (t - start > budgetMs) break;
  }
  return {frames, work, steps, height: el.scrollHeight, rowsMax,
          atBottom: el.scrollTop + el.clientHeight >= el.scrollHeight - 30};
}"""

# The peer: the same rows, all in the DOM, in a pane of the same size with the same stylesheet.
_JS_PLAIN_LIST = """(count) => {
  const t0 = performance.now();
  const host = document.createElement('div');
  host.className = 'ck-conv ck-plain';
  host.style.cssText = 'position:fixed;left:0;top:0;width:960px;z-index:10000';
  const list = document.createElement('div');
  list.className = 'ck-conv-list';
  const day = 24 * 3600 * 1000, now = Date.now();
  let lastDay = null;
  for (let i = 0; i < count; i++) {
    const out = i % 3 === 0;
    const row = document.createElement('div');
    row.className = 'ck-plain-row ' + (out ? 'ck-conv-out' : 'ck-conv-in');
    row.style.padding = '2px 12px';
    const sent = now - (count - i) * 60000;
    const d = new Date(sent).toDateString();
    if (d !== lastDay) {
      const sep = document.createElement('div');
      sep.className = 'ck-conv-day';
      sep.textContent = d;
      row.append(sep);
      lastDay = d;
    }
    if (!out && (i % 3 === 1)) {
      const a = document.createElement('div');
      a.className = 'ck-conv-author';
      a.textContent = 'Bob';
      row.append(a);
    }
    const line = document.createElement('div');
    line.className = 'ck-conv-line';
    const bubble = document.createElement('div');
    bubble.className = 'ck-conv-bubble';
    const body = document.createElement('div');
    body.className = 'ck-conv-body';
    body.innerHTML = '<p>Message <strong>' + i + '</strong>: ' + 'a longer line that wraps '.repeat(i % 5) + 'end</p>';
    const meta = document.createElement('div');
    meta.className = 'ck-conv-meta';
    const d2 = new Date(sent);
    meta.textContent = String(d2.getHours()).padStart(2, '0') + ':' + String(d2.getMinutes()).padStart(2, '0')
      + (out ? ' \\u2713\\u2713' : '');
    bubble.append(body, meta);
    line.append(bubble);
    row.append(line);
    list.append(row);
  }
  host.append(list);
  document.body.append(host);
  return new Promise((res) => requestAnimationFrame(() => res(performance.now() - t0)));
}"""


def _stats(raw: dict[str, Any]) -> dict[str, float]:
    """Frame intervals (rAF to rAF) and frame work (rAF to the first task after that frame's paint).

    Intervals are quantized by vsync and jitter around 16.7 ms, so a frame counts as dropped when
    its interval is over 1.5 frames (a vsync was missed); the raw share over 16.7 ms is kept too.
    """
    frames, work = raw["frames"], raw["work"]
    return {
        "frames": len(frames),
        "p50": percentile(frames, 50), "p95": percentile(frames, 95), "p99": percentile(frames, 99),
        "max": max(frames), "dropped": sum(f > 1.5 * FRAME_MS for f in frames) / len(frames),
        "over": sum(f > FRAME_MS for f in frames) / len(frames),
        "work50": percentile(work, 50), "work95": percentile(work, 95), "work99": percentile(work, 99),
        "workmax": max(work),
    }


def _notebook(root: Path, count: int) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL.replace("COUNT", str(count)))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, str(root / NOTEBOOK))


def _execute(page: Any, code: str) -> str:
    out: str = page.evaluate(_JS_EXECUTE, code)
    if out.startswith("ERROR"):
        raise RuntimeError(f"kernel: {out}")
    return out


def _open_once(page: Any, lab: ModuleType) -> tuple[float, float]:
    """One reset of all messages: (set_messages -> painted ms, of which the kernel's share ms)."""
    _execute(page, "view.set_messages([], has_older=False)")
    page.wait_for_timeout(300)
    page.evaluate(_JS_WATCH_RESET)
    out = _execute(page, "import json\nt0 = time.time() * 1000\nview.set_messages(msgs, has_older=False)\n"
                         "print(json.dumps([t0, time.time() * 1000 - t0]))")
    t0, kernel_ms = json.loads(out)
    seen = lab._poll(page, "() => window.__ckReset", lambda s: bool(s and s.get("painted")), 60.0,
                     "the first rows to be painted")
    return seen["painted"] - t0, kernel_ms


def _measure(page: Any, lab: ModuleType, count: int, max_steps: int, budget_ms: float, opens: int) -> dict[str, Any]:
    lab._poll(page, "() => !!document.querySelector('.ck-conv-canvas')", bool, 30.0, "the view")
    open_runs = [_open_once(page, lab) for _ in range(opens)]
    lab._poll(page, "() => document.querySelectorAll('.ck-conv-row').length", bool, 30.0, "rows")
    page.wait_for_timeout(500)
    args = {"maxSteps": max_steps, "budgetMs": budget_ms}
    ours = page.evaluate(_JS_SCROLL, {"selector": ".ck-conv:not(.ck-plain) .ck-conv-list", **args})
    build_ms = page.evaluate(_JS_PLAIN_LIST, count)
    page.wait_for_timeout(500)
    plain = page.evaluate(_JS_SCROLL, {"selector": ".ck-plain .ck-conv-list", **args})
    page.evaluate("() => document.querySelector('.ck-plain').remove()")
    return {"open": open_runs, "plain_build_ms": build_ms, "ours": ours, "plain": plain}


def run(quick: bool) -> list[SummaryRow]:
    lab = _load("_lab")
    server_mod = _load("_lab_server")
    from playwright.sync_api import sync_playwright

    count, max_steps, budget_ms, opens = (2_000, 300, 8_000.0, 1) if quick else (10_000, 1_500, 40_000.0, 3)
    print_header(f"Conversation view: {count:,} messages in JupyterLab, headless Chromium, "
                 f"scroll up to {max_steps} steps each way", quick)
    work = Path(tempfile.mkdtemp(prefix="bench-conversation-"))
    server = server_mod.LabServer(workdir=work, source_notebooks=work / "none")
    try:
        server.start()
        _notebook(server.root_dir, count)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(work / "profile"), executable_path=str(lab.CHROMIUM), headless=True,
                args=list(lab.CHROMIUM_ARGS), viewport=dict(lab.VIEWPORT), timeout=60_000)
            try:
                page = context.new_page()
                result = lab.LabResult(name=NOTEBOOK)
                lab._open(page, server.base_url, server.token, NOTEBOOK)
                lab._run_all(page, NOTEBOOK, lab.RUN_TIMEOUT, result)
                lab._collect_cells(page, result)
                if result.errors or result.run_error:
                    raise RuntimeError(f"the bench notebook failed: {result.errors or result.run_error}")
                figures = _measure(page, lab, count, max_steps, budget_ms, opens)
                try:
                    page.evaluate(lab._JS_SHUTDOWN)
                except Exception:  # noqa: BLE001 - the server's stop deletes sessions anyway
                    pass
            finally:
                context.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    ours, plain = _stats(figures["ours"]), _stats(figures["plain"])
    print(text_table(
        ("list", "frames", "p50 ms", "p95 ms", "p99 ms", "max ms", "dropped", ">16.7 ms",
         "work p50/p95/p99/max ms", "rows in DOM"),
        [(label, s["frames"], f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}",
          f"{s['dropped']:.1%}", f"{s['over']:.1%}",
          f"{s['work50']:.1f}/{s['work95']:.1f}/{s['work99']:.1f}/{s['workmax']:.1f}", raw["rowsMax"])
         for label, s, raw in (("ConversationView (virtualized)", ours, figures["ours"]),
                               ("plain list, all rows in the DOM", plain, figures["plain"]))],
    ))
    open_ms = statistics.median(t for t, _ in figures["open"])
    kernel_ms = statistics.median(k for _, k in figures["open"])
    print(f"open {count:,} messages: set_messages -> first rows painted {open_ms:.0f} ms (median of "
          f"{len(figures['open'])}; the kernel's set_messages call {kernel_ms:.0f} ms of it); "
          f"plain list of {count:,} rows built and painted in the page: {figures['plain_build_ms']:.0f} ms")
    name = "conversation view"
    scroll = f"scroll {count:,} messages bottom-top-bottom"
    return [
        SummaryRow(name, f"{scroll}: p95 frame interval", f"{ours['p95']:.1f} ms", f"plain list {plain['p95']:.1f} ms",
                   ours["p95"] / plain["p95"], "<= 1x", ours["p95"] <= plain["p95"]),
        SummaryRow(name, f"{scroll}: p99 frame interval", f"{ours['p99']:.1f} ms", f"plain list {plain['p99']:.1f} ms",
                   ours["p99"] / plain["p99"], "<= 1x", ours["p99"] <= plain["p99"]),
        SummaryRow(name, f"{scroll}: p95 frame work (rAF to after paint)", f"{ours['work95']:.1f} ms",
                   f"plain list {plain['work95']:.1f} ms", ours["work95"] / plain["work95"], "< 1x",
                   ours["work95"] < plain["work95"]),
        SummaryRow(name, f"{scroll}: dropped frames (interval > 1.5 x 16.7 ms; ratio of counts + 1)",
                   f"{ours['dropped']:.1%}", f"plain list {plain['dropped']:.1%}",
                   (ours["dropped"] * ours["frames"] + 1) / (plain["dropped"] * plain["frames"] + 1),
                   "<= 1x", ours["dropped"] <= plain["dropped"]),
        SummaryRow(name, f"open {count:,} messages: set_messages to first rows painted", f"{open_ms:.0f} ms",
                   f"target {OPEN_TARGET_MS:.0f} ms", open_ms / OPEN_TARGET_MS, "< 1x", open_ms < OPEN_TARGET_MS),
        SummaryRow(name, f"open: vs building the plain list of {count:,} rows in the page", f"{open_ms:.0f} ms",
                   f"{figures['plain_build_ms']:.0f} ms (plain)", open_ms / figures["plain_build_ms"], "(context)"),
    ]


if __name__ == "__main__":
    from _util import environment, markdown_table

    args = parse_args(__doc__.splitlines()[0])
    print(environment())
    started = time.perf_counter()
    print("\n" + markdown_table(run(args.quick)))
    print(f"[{time.perf_counter() - started:.0f} s]")
