"""The conversation view in a real JupyterLab: it virtualizes, sends, keeps Shift+Enter a newline,
retries, confirms deletes, keeps its place when older messages arrive, and reads in both themes.

One throw-away notebook (written into the server's root, never into ``notebooks/``) shows a
``ConversationView`` of 200 messages (100 older ones come on ``load_older``) whose callbacks append
to ``events`` and answer as the chat feature would (an upsert per send or delete). The test asks
the kernel for ``events`` after each action. Screenshots go to
``artifacts/screenshots/conversation-<light|dark>.png``.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_conversation_view.py
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

lab = sys.modules["_chatkernel_e2e_lab"]  # loaded by conftest.py, which pytest imports first

NOTEBOOK = "conversation-probe.ipynb"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
MIN_CONTRAST = 4.5
SHOWN, OLDER = 200, 100

CELLS = [
    """\
import time
from widgets import ConversationView, render_markdown

now = int(time.time() * 1000)

def message(i, **changes):
    out = i % 3 == 0
    text = f"Message **{i}**: " + ("a longer line that wraps " * (i % 4)) + "end"
    m = {"id": f"m{i}", "direction": "out" if out else "in", "author": "Alice" if out else "Bob",
         "text": text, "html": render_markdown(text), "sent_at": now - (300 - i) * 15 * 60_000,
         "status": "read" if out else "received", "edited": False, "deleted": False, "reply_to": None}
    m.update(changes)
    return m

everything = [message(i) for i in range(OLDER + SHOWN)]
everything[-1] = message(OLDER + SHOWN - 1, direction="out", author="Alice", text="delete me",
                         html=render_markdown("delete me"), status="delivered")
everything[-2] = message(OLDER + SHOWN - 2, direction="out", author="Alice", status="failed",
                         text="this one failed", html=render_markdown("this one failed"))
everything[-3] = message(OLDER + SHOWN - 3, reply_to={"id": "m290", "author": "Bob", "preview": "the original"})
everything[-5] = message(OLDER + SHOWN - 5, direction="out", author="Alice", status="sent", edited=True)
everything[-6] = message(OLDER + SHOWN - 6, direction="out", author="Alice", status="queued")
everything[-7] = message(OLDER + SHOWN - 7, text="", html="", deleted=True)
events = []
view = ConversationView(title="Bob", subtitle="verified")

def on_send(text, reply_to):
    events.append(["send", text, reply_to])
    view.upsert(message(1000 + len(events), direction="out", author="Alice", text=text,
                        html=render_markdown(text), status="queued", sent_at=int(time.time() * 1000)))

def on_delete(message_id):
    events.append(["delete", message_id])
    old = next(m for m in view.messages() if m["id"] == message_id)
    view.upsert({**old, "text": "", "html": "", "deleted": True})

view.on_send(on_send)
view.on_delete(on_delete)
view.on_retry(lambda message_id: events.append(["retry", message_id]))
view.on_edit(lambda message_id, text: events.append(["edit", message_id, text]))
view.on_load_older(lambda: (events.append(["load_older"]),
                            view.prepend(everything[:OLDER], has_older=False)))
view.set_messages(everything[OLDER:], has_older=True, unread_from=f"m{OLDER + SHOWN - 4}")
view""".replace("OLDER", str(OLDER)).replace("SHOWN", str(SHOWN)),
]

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

_JS_SCROLL_THEN_EXECUTE = """async ([top, code]) => {
  document.querySelector('.ck-conv-list').scrollTop = top;
  return await (""" + _JS_EXECUTE + """)(code);
}"""

_JS_LIST = """() => {
  const list = document.querySelector('.ck-conv-list');
  if (!list) return null;
  const box = list.getBoundingClientRect();
  const rows = [...list.querySelectorAll('.ck-conv-row')];
  const visible = rows.filter((r) => {
    const b = r.getBoundingClientRect();
    return b.bottom > box.top && b.top < box.bottom;
  }).sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
  const first = visible[0];
  return {rows: rows.length, scrollTop: list.scrollTop, height: list.scrollHeight,
          client: list.clientHeight, ids: visible.map((r) => r.dataset.id),
          first: first ? {id: first.dataset.id, top: first.getBoundingClientRect().top - box.top} : null,
          top: list.querySelector('.ck-conv-top').textContent};
}"""


_JS_ERROR_COLOUR = """() => {
  const line = document.querySelector('.ck-conv-error');
  const probe = document.createElement('span');
  probe.style.color = 'var(--jp-error-color1)';
  line.appendChild(probe);
  const same = getComputedStyle(probe).color === getComputedStyle(line).color;
  probe.remove();
  return same;
}"""


def _contrast_helpers() -> tuple[str, Any]:
    """test_themes.py's contrast measurement (what a reader sees), loaded by path, not copied."""
    name = "_chatkernel_e2e_test_themes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_themes.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    module = sys.modules[name]
    return module._JS_CONTRAST, module._low_contrast


def _write_notebook(root: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Throw-away notebook of `tests/e2e/test_conversation_view.py`.")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(root / NOTEBOOK))
    return NOTEBOOK


def _execute(page: Any, code: str) -> str:
    out: str = page.evaluate(_JS_EXECUTE, code)
    assert not out.startswith("ERROR"), out
    return out


def _events(page: Any) -> list[list[Any]]:
    return json.loads(_execute(page, "import json; print(json.dumps(events))"))


def _until_event(page: Any, expected: list[Any], what: str) -> list[list[Any]]:
    deadline_polls = 80  # 80 x 250 ms; bounded by count, no wall-clock assertion
    events: list[list[Any]] = []
    for _ in range(deadline_polls):
        events = _events(page)
        if expected in events:
            return events
        page.wait_for_timeout(250)
    raise lab.LabTimeout(f"waiting for {what}: {expected!r} not in {events!r}")


def _row(page: Any, message_id: str) -> Any:
    return page.locator(f'.ck-conv-row[data-id="{message_id}"]')


@pytest.mark.browser
def test_conversation_view_in_jupyterlab(lab_server: Any, lab_page: Any) -> None:
    page = lab_page
    name = _write_notebook(lab_server.root_dir)
    result = lab.LabResult(name=name)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text[:300]) if msg.type == "error" else None)
    last = f"m{OLDER + SHOWN - 1}"
    try:
        lab._open(page, lab_server.base_url, lab_server.token, name)
        lab._run_all(page, name, lab.RUN_TIMEOUT, result)
        lab._collect_cells(page, result)
        lab._check_rendering(page, result)
        problems = [str(p) for p in (*result.errors, result.run_error, *result.widget_problems) if p]
        assert not problems, "\n".join([*problems, result.summary()])
        # Opened at the unread divider; virtualized: a few rows in the DOM, not all of them.
        unread = f"m{OLDER + SHOWN - 4}"
        state = lab._poll(page, _JS_LIST, lambda s: bool(s and s["rows"] and s["first"]),
                          lab.RENDER_SETTLE_TIMEOUT, "the first rows to show")
        at_bottom = state["scrollTop"] + state["client"] >= state["height"] - 2
        assert unread in state["ids"], state
        assert at_bottom or (state["first"]["id"] == unread and abs(state["first"]["top"]) < 20), state
        assert 3 <= state["rows"] < SHOWN / 2, state
        page.evaluate("() => { const l = document.querySelector('.ck-conv-list'); l.scrollTop = l.scrollHeight; }")
        lab._poll(page, _JS_LIST, lambda s: last in s["ids"], lab.RENDER_SETTLE_TIMEOUT, "the newest message")
        assert page.locator(".ck-conv-unread").count() == 1
        assert page.locator(".ck-conv-deleted").first.text_content() == "This message was deleted"
        assert page.locator(".ck-conv-tick.ck-conv-read").count() >= 1
        assert page.locator(".ck-conv-edited").count() >= 1
        assert page.locator(".ck-conv-title").text_content() == "Bob"

        # A failed message offers a retry.
        _row(page, f"m{OLDER + SHOWN - 2}").locator(".ck-conv-retry").click()
        _until_event(page, ["retry", f"m{OLDER + SHOWN - 2}"], "on_retry")

        # Enter sends; the composer clears; the callback's upsert shows the message.
        composer = page.locator(".ck-conv-input")
        composer.click()
        page.keyboard.type("hello")
        page.keyboard.press("Enter")
        _until_event(page, ["send", "hello", None], "on_send")
        assert composer.input_value() == ""
        lab._poll(page, "() => [...document.querySelectorAll('.ck-conv-out .ck-conv-body')]"
                  ".some((n) => n.textContent.trim() === 'hello')", bool, lab.RENDER_SETTLE_TIMEOUT,
                  "the sent message to show")

        # Shift+Enter is a new line, not a send; whitespace only is never sent.
        page.keyboard.type("line one")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("line two")
        assert composer.input_value() == "line one\nline two"
        assert sum(e[0] == "send" for e in _events(page)) == 1
        page.keyboard.press("Enter")
        _until_event(page, ["send", "line one\nline two", None], "the two-line send")
        page.keyboard.type("   ")
        page.keyboard.press("Enter")
        assert sum(e[0] == "send" for e in _events(page)) == 2

        # Up arrow in the empty composer edits the last own message; Escape cancels a reply.
        composer.fill("")
        page.keyboard.press("ArrowUp")
        assert composer.input_value() == "line one\nline two"
        assert "Editing" in page.locator(".ck-conv-banner").text_content()
        page.keyboard.press("End")
        page.keyboard.type(" (fixed)")
        page.keyboard.press("Enter")
        _until_event(page, ["edit", "m1003", "line one\nline two (fixed)"], "on_edit")
        assert composer.input_value() == "" and page.locator(".ck-conv-banner").is_hidden()
        incoming = _row(page, f"m{OLDER + SHOWN - 4}")
        incoming.hover()
        incoming.get_by_role("button", name="Reply to Bob's message").click()
        assert page.locator(".ck-conv-banner").text_content().startswith("Replying to Bob:")
        page.keyboard.type("sure")
        page.keyboard.press("Escape")
        assert page.locator(".ck-conv-banner").is_hidden() and composer.input_value() == "sure"
        composer.fill("")

        # Delete asks first: Cancel keeps the message, Delete removes it.
        composer.fill("")
        row = _row(page, last)
        row.scroll_into_view_if_needed()
        row.hover()
        row.get_by_role("button", name="Delete your message").click()
        assert _row(page, last).locator(".ck-conv-confirm-text").text_content() == "Delete this message?"
        _row(page, last).get_by_role("button", name="Keep this message").click()
        assert _row(page, last).locator(".ck-conv-confirm-text").count() == 0
        assert not any(e[0] == "delete" for e in _events(page))
        _row(page, last).hover()
        _row(page, last).get_by_role("button", name="Delete your message").click()
        _row(page, last).get_by_role("button", name="Yes, delete this message").click()
        _until_event(page, ["delete", last], "on_delete")
        lab._poll(page, f"() => (document.querySelector('.ck-conv-row[data-id=\"{last}\"] .ck-conv-body')"
                  " || {}).textContent", lambda t: (t or "").strip() == "This message was deleted",
                  lab.RENDER_SETTLE_TIMEOUT, "the tombstone")

        # Scrolled to the top: older messages come in and the rows on screen stay where they were.
        page.evaluate("() => { const l = document.querySelector('.ck-conv-list'); l.scrollTop = 0; }")
        _until_event(page, ["load_older"], "on_load_older")
        lab._poll(page, _JS_LIST, lambda s: "start of the conversation" in s["top"],
                  lab.RENDER_SETTLE_TIMEOUT, "the older page")
        after = page.evaluate(_JS_LIST)
        assert after["scrollTop"] > 1000, after  # not left at the top of the new, older rows
        assert after["rows"] < (SHOWN + OLDER) / 2, after
        page.evaluate("() => { const l = document.querySelector('.ck-conv-list'); l.scrollTop = 0; }")
        lab._poll(page, _JS_LIST, lambda s: "m0" in s["ids"], lab.RENDER_SETTLE_TIMEOUT, "the oldest message")
        page.evaluate("() => { const l = document.querySelector('.ck-conv-list'); "
                      "l.scrollTop = l.scrollHeight; }")
        lab._poll(page, _JS_LIST, lambda s: last in s["ids"], lab.RENDER_SETTLE_TIMEOUT, "the bottom again")

        # Away from the bottom, a new message shows "New messages"; it scrolls down. Typing, errors.
        # The scroll and the message are sent together: the message may land before the browser
        # delivers the scroll event (a red CI run once), and must neither pull the reader back down
        # nor forget to say that something arrived.
        out = page.evaluate(_JS_SCROLL_THEN_EXECUTE, [3000, (
            "view.upsert(message(2000, direction='in', author='Bob', sent_at=int(time.time() * 1000)))\n"
            "view.set_typing(True)\nview.error = 'The relay refused the message'")])
        assert not out.startswith("ERROR"), out
        new_below = page.locator(".ck-conv-newbelow")
        new_below.wait_for(state="visible")
        middle = page.evaluate(_JS_LIST)
        assert last not in middle["ids"] and "m2000" not in middle["ids"], middle
        assert page.locator(".ck-conv-typing").text_content() == "Bob is typing\u2026"
        assert page.locator(".ck-conv-error-text").text_content() == "The relay refused the message"
        assert page.evaluate(_JS_ERROR_COLOUR) is True
        new_below.click()
        lab._poll(page, _JS_LIST, lambda s: "m2000" in s["ids"], lab.RENDER_SETTLE_TIMEOUT, "the new message")
        page.get_by_role("button", name="Dismiss the error").click()
        assert _execute(page, "print(repr(view.error))").strip() == "''"
        _execute(page, "view.set_typing(False)")

        js_contrast, low_contrast = _contrast_helpers()
        page.evaluate("() => { const a = document.activeElement; if (a && a.blur) a.blur(); }")
        page.mouse.move(0, 0)
        for key, theme in THEMES.items():
            lab.change_theme(page, theme)
            lab._poll(page, _JS_LIST, lambda s: last in s["ids"], lab.RENDER_SETTLE_TIMEOUT,
                      f"the rows to repaint in {theme}")
            lab.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.locator(".ck-conv").screenshot(path=str(lab.SCREENSHOT_DIR / f"conversation-{key}.png"),
                                                animations="disabled", caret="hide")
            measured = page.evaluate(js_contrast, {
                "message text": ".ck-conv-body:not(.ck-conv-deleted)",
                "authors": ".ck-conv-author",
                "title": ".ck-conv-title",
                "muted": ".ck-conv-meta, .ck-conv-deleted, .ck-conv-day",
            })
            print(f"{theme}: lowest contrast " + ", ".join(  # shown with -rP
                f"{group} {min(m['ratio'] for m in items):.2f}" for group, items in measured.items() if items))
            assert measured["message text"] and measured["authors"], measured
            low = low_contrast(measured)
            assert not low, f"{theme}: text below {MIN_CONTRAST}:1\n" + "\n".join(low)
        assert not [line for line in console if "anywidget" in line or "ck-conv" in line], console
    except lab.LabTimeout as exc:
        lab.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(lab.SCREENSHOT_DIR / "conversation-failed.png"), timeout=20_000)
        pytest.fail(f"{name}: {exc}", pytrace=False)
    finally:
        try:
            page.evaluate(lab._JS_SHUTDOWN)
        except Exception:  # noqa: BLE001 - the server's teardown deletes sessions anyway
            pass
