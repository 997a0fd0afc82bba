"""The contacts feature's contract, its errors, and an import with no side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import features.contacts as contacts_pkg
from features.contacts import errors
from features.contacts import events as ev

ROOT = Path(__file__).resolve().parents[3]


def test_contract():
    f = contacts_pkg.feature
    assert contacts_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version) == ("contacts", "Contacts", "1.0.0")
    assert list(f.dependencies) == ["persistence", "identity"] and set(f.requires) == set(f.dependencies)
    assert list(f.ui) == ["ContactsPanel"]
    assert [s.type for s in f.emitted_events] == ["CONTACT_ADDED", "CONTACT_SELECTED", "CONTACT_RENAMED",
                                                  "CONTACT_BLOCKED", "CONTACT_REMOVED", "PRESENCE_CHANGED"]
    for spec in ev.EMITTED:  # ids, names the user gave, presence: no key, no body
        assert set(spec.fields) <= {"user_id", "name", "blocked", "presence", "last_seen"}


def test_errors_share_one_base_and_are_all_drawn_in_the_docstring():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ContactsError)
        assert name in errors.__doc__
    assert errors.__all__ == sorted(errors.__all__) and ev.__all__ == sorted(ev.__all__)


def test_importing_the_package_loads_nothing_heavy():
    probe = """
import sys, threading
before = threading.active_count()
import features.contacts
heavy = [m for m in ("ipywidgets", "features.contacts.service", "features.contacts.machine",
                     "features.contacts.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
assert features.contacts.feature.ui["ContactsPanel"]().__name__ == "ContactsPanel"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
