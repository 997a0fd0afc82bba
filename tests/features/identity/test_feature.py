"""The identity feature's contract, its seams (the published IdentityAPI against the real
service, its copy of PersistenceAPI against persistence's service) and a clean import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from chatkernel import check_service

import features.identity as identity_pkg
from features.identity import events as ev
from features.identity._api import PersistenceAPI
from features.identity._config import IdentityConfig
from features.identity.api import IdentityAPI

ROOT = Path(__file__).resolve().parents[3]


def test_contract():
    f = identity_pkg.feature
    assert identity_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version, f.dependencies) == ("identity", "Identity", "1.0.0", ("persistence",))
    assert f.requires["persistence"] is PersistenceAPI
    assert f.subscribed_events == ("PERSISTENCE_LOCKED", "SIGNALING_URL_CHANGED")
    assert f.emitted_types == ("IDENTITY_CREATED", "IDENTITY_LOADED", "IDENTITY_FORGOTTEN", "IDENTITY_ERROR",
                               "CONTACT_PINNED", "CONTACT_VERIFIED", "KEY_CHANGED", "KEY_ACCEPTED",
                               "KEY_CHANGE_DISMISSED")
    assert ev.EMITTED == f.emitted_events
    assert list(f.ui) == ["IdentityCard", "SafetyNumberView"] and f.on_unmount is not None
    assert dataclasses.asdict(f.settings) == {"allow_insecure_remote": False} and f.settings == IdentityConfig()
    assert dict(ev.KEY_CHANGED.fields) == {"user_id": str, "old_fingerprint": str, "new_fingerprint": str}
    assert ev.KEY_CHANGED.priority.name == "HIGH" and ev.KEY_ACCEPTED.priority.name == "HIGH"
    assert dict(ev.KEY_CHANGE_DISMISSED.fields) == {"user_id": str, "fingerprint": str, "dismissed_fingerprint": str}
    assert ev.KEY_CHANGE_DISMISSED.priority.name == "HIGH"


def test_no_event_field_could_carry_a_key():
    """Every field is a user id, a name, a fingerprint or an error's words: nothing is bytes."""
    for spec in ev.EMITTED:
        assert set(spec.fields) <= {"user_id", "display_name", "old_fingerprint", "new_fingerprint", "fingerprint",
                                    "dismissed_fingerprint", "operation", "kind", "reason"}, spec.type


def test_the_published_protocol_matches_the_service():
    from features.identity.service import IdentityService
    from features.persistence._config import PersistenceConfig
    from features.persistence.service import PersistenceService

    db = PersistenceService(PersistenceConfig(profiles_dir="/nonexistent"))
    check_service("auth", "identity", IdentityService(db), IdentityAPI)
    check_service("identity", "persistence", db, PersistenceAPI)


def test_a_service_missing_a_member_is_refused():
    from chatkernel import ServiceContractError
    from features.identity.service import IdentityService
    from features.persistence._config import PersistenceConfig
    from features.persistence.service import PersistenceService

    class Partial(IdentityService):
        safety_number = None  # type: ignore[assignment]

    with pytest.raises(ServiceContractError, match="safety_number"):
        check_service("auth", "identity", Partial(PersistenceService(PersistenceConfig(profiles_dir="/x"))),
                      IdentityAPI)


def test_importing_the_package_loads_the_heavy_parts_only_when_asked():
    probe = """
import sys, threading
before = threading.active_count()
import features.identity
heavy = [m for m in ("cryptography", "segno", "ipywidgets", "sqlcipher3", "features.identity.service",
                     "features.identity.machine", "features.identity.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
ui = features.identity.feature.ui
assert ui["IdentityCard"]().__name__ == "IdentityCard" and ui["SafetyNumberView"]().__name__ == "SafetyNumberView"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


pytestmark = pytest.mark.anyio


async def test_mounting_loads_nothing(boot, profiles_dir):
    b = await boot()
    assert b.actor.state == ["absent"] and b.service.user_id is None
    assert b.app.report.ok and not b.of("FEATURE_ERROR")
    assert not Path(profiles_dir).exists()
    assert b.app.registry.order().index("persistence") < b.app.registry.order().index("identity")
