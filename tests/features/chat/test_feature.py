"""The chat feature's contract, its errors, and an import with no side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import features.chat as chat_pkg
from features.chat import errors
from features.chat import events as ev

ROOT = Path(__file__).resolve().parents[3]


def test_contract():
    f = chat_pkg.feature
    assert chat_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version) == ("chat", "Chat", "1.0.0")
    assert list(f.dependencies) == ["persistence", "identity", "contacts", "messaging"]
    assert set(f.requires) == set(f.dependencies) and list(f.ui) == ["ChatWindow"]
    assert {"MESSAGE_SENT", "MESSAGE_FAILED", "MESSAGE_DELIVERED", "MESSAGE_READ", "CONVERSATION_OPENED",
            "CONVERSATION_CLOSED"} <= {s.type for s in f.emitted_events}
    for spec in ev.EMITTED:  # ids, counts and reasons: never a body
        assert set(spec.fields) <= {"conversation", "peer", "id", "ids", "sent_at", "reason", "unread"}


def test_errors_share_one_base_and_are_all_drawn_in_the_docstring():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ChatError)
        assert name in errors.__doc__
    assert errors.__all__ == sorted(errors.__all__) and ev.__all__ == sorted(ev.__all__)


def test_importing_the_package_loads_nothing_heavy():
    probe = """
import sys, threading
before = threading.active_count()
import features.chat
heavy = [m for m in ("ipywidgets", "anywidget", "features.chat.service", "features.chat.machine",
                     "features.chat.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
assert features.chat.feature.ui["ChatWindow"]().__name__ == "ChatWindow"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
