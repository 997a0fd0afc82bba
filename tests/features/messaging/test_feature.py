"""The messaging feature's contract, its panel, and an import with no side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import features.messaging as messaging_pkg
from features.messaging import events as ev

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.anyio


def test_contract():
    f = messaging_pkg.feature
    assert messaging_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version) == ("messaging", "Messaging", "1.0.0")
    assert list(f.dependencies) == ["persistence", "identity", "crypto", "signaling"]
    assert set(f.requires) == set(f.dependencies) and list(f.ui) == ["MessagingStatus"]
    for spec in ev.EMITTED:  # no body, no key: ids, user ids, counts and reasons
        assert set(spec.fields) <= {"peer", "id", "kind", "sent_at", "relay_id", "reason", "remaining", "change", "ids",
                                    "accepted", "trigger", "author", "group", "by"}


def test_importing_the_package_loads_nothing_heavy():
    probe = """
import sys, threading
before = threading.active_count()
import features.messaging
heavy = [m for m in ("ipywidgets", "features.messaging.service", "features.messaging.machine",
                     "features.messaging.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
assert features.messaging.feature.ui["MessagingStatus"]().__name__ == "MessagingStatus"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


async def test_the_panel_follows_the_feature(people):
    from features.messaging.ui import MessagingStatus

    alice, bob = await people("Alice", "Bob")
    panel = MessagingStatus(bob.app)
    assert panel.rows["State"] == "ready" and panel.rows["Prekeys on the relay"] == "100"
    await alice.messaging.send(bob.user_id, "hello")
    await bob.wait_for(lambda: panel.rows["Received"] == "1")
    assert panel.rows["Sent"] == "0" and panel.rows["Dropped (unreadable)"] == "0"
    assert "var(--jp-" in panel.table.value and "hello" not in panel.table.value
    await bob.db.close()
    await bob.wait_for(lambda: panel.rows["State"] == "locked")
    assert "Last upload" not in panel.rows  # a refill cut short by the lock is no failure


async def test_a_failed_upload_is_shown_with_its_reason(people, relay):
    from features.messaging.ui import MessagingStatus

    [bob] = await people("Bob")
    panel = MessagingStatus(bob.app)
    await relay.stop()  # the relay went away: the upload cannot reach it
    bob.signaling.key_wait_s = 0.2
    assert await bob.messaging.publish_prekeys() is None
    await bob.wait_for(lambda: "Last upload" in panel.rows)
    assert panel.rows["Last upload"].startswith("failed: ")
