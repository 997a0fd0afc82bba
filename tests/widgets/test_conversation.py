"""ConversationView's Python side, without a browser: what it holds, what it sends to the browser,
and how it treats what the browser sends (simulated through ``_handle_custom_msg``, the handler
ipywidgets calls for a custom message)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from widgets import ConversationView
from widgets._conversation import MAX_TEXT_BYTES, check_message

SECRET = "the launch code is 0000"


def msg(i: int, **changes: Any) -> dict[str, Any]:
    m = {"id": f"m{i}", "direction": "out" if i % 2 else "in", "author": "Bob", "text": f"{SECRET} {i}",
         "html": f"<p>{SECRET} {i}</p>", "sent_at": 1_700_000_000_000 + i, "status": "sent" if i % 2 else "received",
         "edited": False, "deleted": False, "reply_to": None}
    m.update(changes)
    return m


class Probe:
    """A view whose outgoing custom messages are captured, and whose callbacks record their calls."""

    def __init__(self, **kwargs: Any):
        self.view = ConversationView(title="Bob", **kwargs)
        self.sent: list[dict[str, Any]] = []
        self.view.send = lambda content, buffers=None: self.sent.append(content)  # type: ignore[method-assign]
        self.calls: list[tuple[Any, ...]] = []
        v = self.view
        v.on_send(lambda text, reply_to: self.calls.append(("send", text, reply_to)))
        v.on_edit(lambda message_id, text: self.calls.append(("edit", message_id, text)))
        v.on_delete(lambda message_id: self.calls.append(("delete", message_id)))
        v.on_retry(lambda message_id: self.calls.append(("retry", message_id)))
        v.on_load_older(lambda: self.calls.append(("load_older",)))
        v.on_typing(lambda: self.calls.append(("typing",)))
        v.on_read(lambda message_id: self.calls.append(("read", message_id)))

    def js(self, content: Any) -> None:
        self.view._handle_custom_msg(content, [])

    def ids(self) -> list[str]:
        return [m["id"] for m in self.view.messages()]


@pytest.fixture
def probe() -> Probe:
    p = Probe()
    p.view.set_messages([msg(i) for i in range(10, 20)], has_older=True, unread_from="m15")
    p.sent.clear()
    return p


# -- what Python holds and sends ---------------------------------------------------------------

def test_set_messages_replaces_everything_and_sends_one_reset():
    p = Probe()
    p.view.set_messages([msg(1), msg(2)], has_older=False)
    p.view.set_messages([msg(3), msg(4), msg(5)], has_older=True, unread_from="m4")
    assert p.ids() == ["m3", "m4", "m5"]
    assert [s["type"] for s in p.sent] == ["reset", "reset"]
    assert p.sent[-1] == {"type": "reset", "messages": [msg(3), msg(4), msg(5)], "has_older": True,
                          "unread_from": "m4", "typing": False}


def test_prepend_puts_an_older_page_in_front_and_skips_ids_already_held(probe: Probe):
    probe.view.prepend([msg(7), msg(8), msg(9), msg(10)], has_older=False)
    assert probe.ids() == [f"m{i}" for i in range(7, 20)]
    assert probe.sent == [{"type": "prepend", "messages": [msg(7), msg(8), msg(9)], "has_older": False}]
    assert probe.view.has_older is False


def test_upsert_appends_a_new_id_and_replaces_a_known_one_in_place(probe: Probe):
    probe.view.upsert(msg(20))
    probe.view.upsert(msg(13, status="read", edited=True))
    assert probe.ids() == [f"m{i}" for i in range(10, 21)]
    assert probe.view.messages()[3]["status"] == "read"
    assert probe.sent == [{"type": "upsert", "message": msg(20)},
                          {"type": "upsert", "message": msg(13, status="read", edited=True)}]


def test_messages_returns_copies(probe: Probe):
    probe.view.upsert(msg(21, reply_to={"id": "m10", "author": "Bob", "preview": "hi"}))
    held = probe.view.messages()
    held[-1]["reply_to"]["preview"] = "changed"
    held[0]["text"] = "changed"
    assert probe.view.messages()[-1]["reply_to"]["preview"] == "hi"
    assert probe.view.messages()[0]["text"] == f"{SECRET} 10"


def test_typing_is_sent_and_part_of_the_next_reset(probe: Probe):
    probe.view.set_typing(True)
    assert probe.sent == [{"type": "typing", "active": True}]
    probe.js({"type": "ready"})
    assert probe.sent[-1]["typing"] is True


def test_a_starting_view_says_ready_and_gets_a_full_reset(probe: Probe):
    probe.view.upsert(msg(20))
    probe.js({"type": "ready"})
    probe.js({"type": "ready"})  # displayed twice: each view gets the whole state
    resets = [s for s in probe.sent if s["type"] == "reset"]
    assert len(resets) == 2
    assert [m["id"] for m in resets[0]["messages"]] == [f"m{i}" for i in range(10, 21)]
    assert resets[0]["has_older"] is True and resets[0]["unread_from"] == "m15"


def test_repr_names_no_body(probe: Probe):
    text = repr(probe.view)
    assert text == "ConversationView(title='Bob', messages=10, has_older=True, typing=False, disabled=False)"
    assert SECRET not in text


def test_placeholder_defaults_to_the_title():
    assert ConversationView(title="Bob").placeholder == "Message Bob"
    assert ConversationView(title="Bob", placeholder="Say hi").placeholder == "Say hi"


# -- bad message dicts from Python raise, naming the field -------------------------------------

@pytest.mark.parametrize(("change", "error", "pattern"), [
    ({"id": 3}, TypeError, "'id' must be str"),
    ({"id": ""}, ValueError, "'id' must be 1..256"),
    ({"direction": "sideways"}, ValueError, "'direction'"),
    ({"status": "lost"}, ValueError, "'status'"),
    ({"sent_at": 1.5}, TypeError, "'sent_at' must be int"),
    ({"sent_at": True}, TypeError, "'sent_at' must be int"),
    ({"edited": 1}, TypeError, "'edited' must be bool"),
    ({"html": None}, TypeError, "'html' must be str"),
    ({"reply_to": "m1"}, TypeError, "'reply_to' must be dict or None"),
    ({"reply_to": {"id": "m1", "author": "Bob"}}, TypeError, "'reply_to.preview' must be str"),
    ({"colour": "red"}, ValueError, "unknown field.*colour"),
])
def test_a_bad_message_raises_naming_the_field(change: dict[str, Any], error: type, pattern: str):
    p = Probe()
    with pytest.raises(error, match=pattern):
        p.view.upsert({**msg(1), **change})
    with pytest.raises(error, match=pattern):
        p.view.set_messages([msg(0), {**msg(1), **change}], has_older=False)
    assert p.sent == [] and p.view.messages() == []


def test_missing_fields_and_non_dicts_are_refused():
    incomplete = msg(1)
    del incomplete["status"], incomplete["reply_to"]
    with pytest.raises(ValueError, match="missing field.*status, reply_to"):
        check_message(incomplete)
    with pytest.raises(TypeError, match="must be a dict, got list"):
        ConversationView().upsert([])  # type: ignore[arg-type]


def test_set_messages_refuses_duplicate_ids_and_an_unknown_unread_from():
    view = ConversationView()
    with pytest.raises(ValueError, match="duplicate message id 'm1'"):
        view.set_messages([msg(1), msg(1)], has_older=False)
    with pytest.raises(ValueError, match="unread_from 'm9'"):
        view.set_messages([msg(1)], has_older=False, unread_from="m9")


# -- what the browser sends ---------------------------------------------------------------------

def test_callbacks_get_the_right_arguments(probe: Probe):
    probe.view.upsert(msg(21, status="failed"))
    probe.js({"type": "send", "text": "hello", "reply_to": None})
    probe.js({"type": "send", "text": "re", "reply_to": "m10"})
    probe.js({"type": "edit", "id": "m11", "text": "fixed"})
    probe.js({"type": "delete", "id": "m13"})
    probe.js({"type": "retry", "id": "m21"})
    probe.js({"type": "load_older"})
    probe.js({"type": "typing"})
    probe.js({"type": "read", "id": "m18"})
    assert probe.calls == [("send", "hello", None), ("send", "re", "m10"), ("edit", "m11", "fixed"),
                           ("delete", "m13"), ("retry", "m21"), ("load_older",), ("typing",), ("read", "m18")]


@pytest.mark.parametrize("content", [
    "ready", None, [], {}, {"type": 3}, {"type": "explode"}, {"type": "x" * 10_000},
    {"type": "send"}, {"type": "send", "text": 5, "reply_to": None}, {"type": "send", "text": "hi", "reply_to": 7},
    {"type": "send", "text": "   \n\t", "reply_to": None}, {"type": "send", "text": "", "reply_to": None},
    {"type": "send", "text": "hi", "reply_to": "x" * 300},
    {"type": "edit", "id": "m99", "text": "x"}, {"type": "edit", "id": "m10", "text": "not mine"},
    {"type": "edit", "id": "m11", "text": "  "}, {"type": "edit", "text": "no id"},
    {"type": "delete", "id": "m10"}, {"type": "delete", "id": None}, {"type": "delete", "id": ["m11"]},
    {"type": "retry", "id": "m11"}, {"type": "read", "id": "m11"}, {"type": "read", "id": "nope"},
])
def test_bad_messages_from_the_browser_are_ignored_without_raising(probe: Probe, content: Any,
                                                                   caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, "chatkernel.widgets.conversation")
    probe.js(content)
    assert probe.calls == [] and probe.sent == [] and probe.view.error == ""
    assert SECRET not in caplog.text


def test_an_edit_of_a_deleted_message_is_ignored(probe: Probe):
    probe.view.upsert(msg(11, deleted=True, text="", html=""))
    probe.js({"type": "edit", "id": "m11", "text": "back"})
    probe.js({"type": "delete", "id": "m11"})
    assert probe.calls == []


def test_load_older_without_older_messages_is_ignored():
    p = Probe()
    p.view.set_messages([msg(1)], has_older=False)
    p.js({"type": "load_older"})
    assert p.calls == []


def test_too_long_text_is_refused_with_an_error_line(probe: Probe, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, "chatkernel.widgets.conversation")
    probe.js({"type": "send", "text": "é" * (MAX_TEXT_BYTES // 2 + 1), "reply_to": None})  # 2 bytes each
    assert probe.calls == []
    assert "over the limit of 32,000 bytes" in probe.view.error
    probe.view.error = ""
    probe.js({"type": "send", "text": "é" * (MAX_TEXT_BYTES // 2), "reply_to": None})  # exactly the limit
    assert len(probe.calls) == 1 and probe.view.error == ""


def test_send_while_disabled_is_ignored(probe: Probe):
    probe.view.disabled = True
    probe.view.disabled_reason = "Bob's key changed: verify it first"
    probe.js({"type": "send", "text": "hi", "reply_to": None})
    assert probe.calls == []


def test_a_raising_callback_sets_error_and_logs_without_the_body(probe: Probe, caplog: pytest.LogCaptureFixture):
    later: list[str] = []

    def broken(text: str, reply_to: str | None) -> None:
        raise RuntimeError("relay down")

    probe.view.on_send(broken)
    probe.view.on_send(lambda text, reply_to: later.append(text))  # the next one still runs
    probe.js({"type": "send", "text": SECRET, "reply_to": None})
    assert probe.view.error == "Could not send: an error occurred (see the log)."
    assert later == [SECRET]
    record = next(r for r in caplog.records if r.exc_info)
    assert "send callback failed" in record.getMessage() and SECRET not in record.getMessage()


def test_callbacks_can_be_removed_and_must_be_callable():
    view = ConversationView()
    calls: list[str] = []

    def cb(message_id: str) -> None:
        calls.append(message_id)

    view.set_messages([msg(1, status="failed")], has_older=False)
    view.on_retry(cb)
    view.on_retry(cb)  # registered once
    view._handle_custom_msg({"type": "retry", "id": "m1"}, [])
    view.on_retry(cb, remove=True)
    view._handle_custom_msg({"type": "retry", "id": "m1"}, [])
    assert calls == ["m1"]
    with pytest.raises(TypeError, match="on_send needs a callable"):
        view.on_send("nope")  # type: ignore[arg-type]


def test_an_async_callback_runs_on_the_loop_and_its_failure_sets_error():
    view = ConversationView()
    done: list[str] = []

    async def ok(text: str, reply_to: str | None) -> None:
        done.append(text)

    async def broken(text: str, reply_to: str | None) -> None:
        raise RuntimeError("nope")

    async def main() -> None:
        view.on_send(ok)
        view.on_send(broken)
        view._handle_custom_msg({"type": "send", "text": "hi", "reply_to": None}, [])
        for _ in range(5):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert done == ["hi"]
    assert view.error == "Could not send: an error occurred (see the log)."


# -- the shipped front end ----------------------------------------------------------------------

WIDGETS = Path(__file__).resolve().parents[2] / "widgets"


def test_the_front_end_is_shipped_beside_the_module_and_needs_no_network():
    js = (WIDGETS / "conversation.js").read_text(encoding="utf-8")
    assert str(ConversationView._esm) == js
    assert "export default" in js
    assert not re.search(r"^\s*import\s|import\(|https?://", js, re.M)
    # The one innerHTML is the sanitized body; every other text goes in with textContent.
    assert js.count(".innerHTML") == 1 and "body.innerHTML = m.html" in js


def test_the_stylesheet_is_scoped_and_uses_theme_colours_only():
    css = (WIDGETS / "conversation.css").read_text(encoding="utf-8")
    assert str(ConversationView._css) == css
    bare = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(|(?<![-\w])(white|black|gr[ae]y)(?![-\w])", bare)
    selectors = [s.strip() for block in re.findall(r"([^{}]+)\{", bare) for s in block.split(",")]
    assert selectors and all(s.startswith(".ck-conv") for s in selectors), selectors
