"""The quickstart in a real JupyterLab: a person types in Alice's window, presses Enter, and the
message shows in Bob's window, decrypted, while Alice's copy gets its delivered and then read
ticks (Bob's window has it in view). Then the same in the quickstart's group of three: typed in
Alice's group window, the message shows in Bob's and Carol's, headed by "Alice", and Alice's copy
turns read once both have looked. Nothing in any window shows an error; screenshots of the two
windows and of the three group windows in the light and the dark theme go to
``artifacts/screenshots/chat-<theme>.png`` and ``group-<theme>.png``, and of Alice's Groups tab
to ``groups-<theme>.png``.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_chat_in_lab.py
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

lab = sys.modules["_chatkernel_e2e_lab"]  # loaded by conftest.py, which pytest imports first

NOTEBOOK = "03_quickstart.ipynb"
TEXT = "hello from the browser, **Bob**"
GROUP_TEXT = "hello from the browser, **both** of you"

_JS_STATE = """([text]) => {
  const shells = [...document.querySelectorAll('.jp-NotebookPanel .chatkernel-shell')];
  if (shells.length < 2) return null;
  const [alice, bob] = shells;
  const mine = [...alice.querySelectorAll('.ck-conv-out')].find(
      (row) => row.querySelector('.ck-conv-body')?.textContent.includes('hello from the browser'));
  const theirs = [...bob.querySelectorAll('.ck-conv-in .ck-conv-body')].find(
      (body) => body.textContent.includes('hello from the browser'));
  const tick = mine?.querySelector('.ck-conv-tick');
  return {
    shells: shells.length,
    headers: shells.map((s) => s.querySelector('.ck-shell-header')?.textContent || ''),
    theirs: theirs ? theirs.innerHTML : null,
    tick: tick ? tick.getAttribute('aria-label') : null,
    errors: shells.flatMap((s) => [...s.querySelectorAll('.ck-conv-error-text')].map((e) => e.textContent.trim()))
               .filter((t) => t),
  };
}"""


_JS_GROUP = """([text]) => {
  const shells = [...document.querySelectorAll('.jp-NotebookPanel .chatkernel-shell')];
  if (shells.length < 5) return null;
  const [alice, bob, carol] = shells.slice(2, 5);
  const mine = [...alice.querySelectorAll('.ck-conv-out')].find(
      (row) => row.querySelector('.ck-conv-body')?.textContent.includes('of you'));
  const seen = (shell) => {
    const rows = [...shell.querySelectorAll('.ck-conv-in')];
    const at = rows.findIndex((row) => row.querySelector('.ck-conv-body')?.textContent.includes('of you'));
    if (at < 0) return null;
    // the author line heads a run of one author's messages: find the one above this row
    let author = '';
    for (let i = at; i >= 0 && !author; i--) author = rows[i].querySelector('.ck-conv-author')?.textContent || '';
    return {html: rows[at].querySelector('.ck-conv-body').innerHTML, author};
  };
  const tick = mine?.querySelector('.ck-conv-tick');
  return {
    titles: [alice, bob, carol].map((s) => s.querySelector('.ck-conv-title')?.textContent || ''),
    bob: seen(bob), carol: seen(carol),
    tick: tick ? tick.getAttribute('aria-label') : null,
    errors: shells.flatMap((s) => [...s.querySelectorAll('.ck-conv-error-text')].map((e) => e.textContent.trim()))
               .filter((t) => t),
  };
}"""


def _screenshot(page: Any, name: str, nth: int) -> None:
    for theme, label in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
        lab.change_theme(page, label)
        shot = lab.SCREENSHOT_DIR / f"{name}-{theme}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".jp-NotebookPanel .jp-OutputArea-output:has(.chatkernel-shell)").nth(nth).screenshot(
            path=str(shot))
        assert shot.stat().st_size > 10_000
    lab.change_theme(page, "JupyterLab Light")


@pytest.mark.browser
def test_a_message_typed_in_alices_window_reaches_bobs_with_its_ticks(lab_server: Any, lab_page: Any) -> None:
    page = lab_page
    result = lab.LabResult(name=NOTEBOOK)
    lab._open(page, lab_server.base_url, lab_server.token, NOTEBOOK)
    lab._run_all(page, NOTEBOOK, lab.RUN_TIMEOUT, result)
    lab._collect_cells(page, result)
    lab._check_rendering(page, result)
    problems = [str(p) for p in (*result.errors, result.run_error, *result.widget_problems) if p]
    assert not problems, "\n".join([*problems, result.summary()])

    state = lab._poll(page, _JS_STATE, lambda s: bool(s), lab.RENDER_SETTLE_TIMEOUT, "both windows", [TEXT])
    assert "Alice" in state["headers"][0] and "connected" in state["headers"][0], state
    assert "Bob" in state["headers"][1] and "connected" in state["headers"][1], state

    shells = page.locator(".jp-NotebookPanel .chatkernel-shell")
    alice, bob = shells.nth(0), shells.nth(1)
    bob.scroll_into_view_if_needed()
    composer = alice.locator(".ck-conv-input")
    composer.click()
    page.keyboard.type(TEXT)
    page.keyboard.press("Enter")
    state = lab._poll(page, _JS_STATE, lambda s: bool(s and s["theirs"]), lab.RENDER_SETTLE_TIMEOUT,
                      "the message in Bob's window", [TEXT])
    assert "<strong>Bob</strong>" in state["theirs"], state  # decrypted, and its Markdown rendered
    assert composer.input_value() == ""
    bob.locator(".ck-conv-list").hover()  # Bob looks at it: his window sends the read receipt
    state = lab._poll(page, _JS_STATE, lambda s: bool(s and s["tick"] == "read"), lab.RENDER_SETTLE_TIMEOUT,
                      "the read tick on Alice's copy", [TEXT])
    assert state["errors"] == [], state

    _screenshot(page, "chat", 0)

    # the group of three: alice types, bob and carol see it under her name, both look, it is read
    state = lab._poll(page, _JS_GROUP, lambda s: bool(s), lab.RENDER_SETTLE_TIMEOUT, "the group windows",
                      [GROUP_TEXT])
    assert state["titles"] == ["Flat", "Flat", "Flat"], state
    alice_group, bob_group, carol_group = (shells.nth(i) for i in (2, 3, 4))
    alice_group.scroll_into_view_if_needed()
    composer = alice_group.locator(".ck-conv-input")
    composer.click()
    page.keyboard.type(GROUP_TEXT)
    page.keyboard.press("Enter")
    state = lab._poll(page, _JS_GROUP, lambda s: bool(s and s["bob"] and s["carol"]), lab.RENDER_SETTLE_TIMEOUT,
                      "the group message in Bob's and Carol's windows", [GROUP_TEXT])
    for who in ("bob", "carol"):
        assert "<strong>both</strong>" in state[who]["html"] and state[who]["author"] == "Alice", state
    for window in (bob_group, carol_group):  # both look at it: each window sends its read receipt
        window.scroll_into_view_if_needed()
        window.locator(".ck-conv-list").hover()
    state = lab._poll(page, _JS_GROUP, lambda s: bool(s and s["tick"] == "read"), lab.RENDER_SETTLE_TIMEOUT,
                      "the read tick on Alice's group message", [GROUP_TEXT])
    assert state["errors"] == [], state
    _screenshot(page, "group", 1)

    # the Groups tab of alice's window: the group, its members, and the admin's buttons
    alice_group.locator("button", has_text="Groups").first.click()
    panel = alice_group.locator(".chatkernel-groups")
    panel.wait_for(state="visible", timeout=lab.RENDER_SETTLE_TIMEOUT * 1000)
    text = panel.inner_text()
    assert "Flat" in text and "Carol" in text and "Traceback" not in text, text
    _screenshot(page, "groups", 1)
    alice_group.locator("button", has_text="Chats").first.click()
