"""The groups feature's contract, its errors, and an import with no side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import features
import features.groups as groups_pkg
from features.groups import errors
from features.groups import events as ev
from features.groups.service import is_group

ROOT = Path(__file__).resolve().parents[3]


def test_contract():
    f = groups_pkg.feature
    assert groups_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version) == ("groups", "Groups", "1.0.0")
    assert list(f.dependencies) == ["identity", "contacts", "messaging"] and set(f.requires) == set(f.dependencies)
    assert list(f.ui) == ["GroupsPanel"]
    assert [s.type for s in f.emitted_events] == ["GROUP_CREATED", "GROUP_UPDATED", "GROUP_LEFT", "GROUP_SELECTED"]
    for spec in ev.EMITTED:  # ids, names and what changed: never a body, never a key
        assert set(spec.fields) <= {"group", "name", "change"}
    assert "GROUP_CHANGED" in f.subscribed_events and "IDENTITY_FORGOTTEN" in f.subscribed_events


def test_the_app_lists_groups_right_after_contacts():
    listed = list(features.FEATURES)
    assert listed.index("features.groups") == listed.index("features.contacts") + 1


def test_errors_share_one_base_and_are_all_drawn_in_the_docstring():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.GroupsError)
        assert name in errors.__doc__
    assert errors.__all__ == sorted(errors.__all__) and ev.__all__ == sorted(ev.__all__)


def test_group_ids_are_recognised_as_messaging_writes_them():
    assert is_group("group:" + "0123456789abcdef" * 2)
    for value in ("group:" + "0123456789ABCDEF" * 2, "group:abc", "a" * 32, None, 7, "group:" + "g" * 32):
        assert not is_group(value)


def test_importing_the_package_loads_nothing_heavy():
    probe = """
import sys, threading
before = threading.active_count()
import features.groups
heavy = [m for m in ("ipywidgets", "features.groups.service", "features.groups.machine",
                     "features.groups.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
assert features.groups.feature.ui["GroupsPanel"]().__name__ == "GroupsPanel"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
