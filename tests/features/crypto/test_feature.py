"""The crypto feature booted by the kernel: its contract, its machine, its panel, and an import
with no side effects."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from chatkernel import Feature, MountResult, bootstrap

import features.crypto as crypto_pkg
from features.crypto import events as ev
from features.crypto._config import CryptoConfig

from .conftest import Directory

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.anyio


def test_contract():
    f = crypto_pkg.feature
    assert crypto_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version) == ("crypto", "Crypto", "1.0.0")
    assert set(f.dependencies) == {"persistence", "identity"} and set(f.requires) == {"persistence", "identity"}
    assert f.emitted_types == ("CRYPTO_SESSION_STARTED", "PREKEYS_LOW", "DECRYPTION_FAILED")
    assert f.subscribed_events == ("PERSISTENCE_OPENED", "PERSISTENCE_LOCKED", "IDENTITY_LOADED",
                                   "IDENTITY_CREATED", "IDENTITY_FORGOTTEN")
    assert dataclasses.asdict(f.settings) == {
        "one_time_prekeys": 100, "refill_below": 20, "max_stored_one_time_prekeys": 1000,
        "signed_prekey_max_age_s": 604800, "max_skip": 1000, "max_skipped_keys": 2000,
        "previous_sessions": 5}
    assert f.settings == CryptoConfig() and list(f.ui) == ["CryptoStatus"]
    for spec in ev.EMITTED:  # nothing secret can be in a payload: only ids, counts and reasons
        assert set(spec.fields) <= {"peer", "role", "one_time_prekey", "remaining", "refill_below", "reason", "group"}


def test_importing_the_package_loads_nothing_heavy():
    probe = """
import sys, threading
before = threading.active_count()
import features.crypto
heavy = [m for m in ("sqlcipher3", "ipywidgets", "features.crypto.service", "features.crypto.machine",
                     "features.crypto.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
panel = features.crypto.feature.ui["CryptoStatus"]()
assert panel.__name__ == "CryptoStatus"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


async def test_machine_follows_the_database_and_the_panel_shows_counts(people):
    from features.crypto.ui import CryptoStatus

    bob = await people("bob")
    assert bob.app.report.ok and not bob.of("FEATURE_ERROR")
    assert bob.actor.state == ["ready"]  # the database opened with an identity loaded
    panel = CryptoStatus(bob.app)
    await bob.publish(Directory())
    await bob.settle()
    assert panel.rows["State"] == "ready" and panel.rows["Sessions"] == "0"
    assert panel.rows["Prekeys left (relay)"] == "100" and panel.rows["Prekeys held (local)"] == "100"
    assert "safety numbers" in panel.note.value and "var(--jp-" in panel.table.value
    assert bob.crypto._key_cache is not None  # the identity's key objects, built once
    await bob.db.close()
    await bob.settle()
    assert bob.actor.state == ["locked"] and panel.rows["Sessions"] == "\u2014"
    assert bob.crypto._key_cache is None  # and dropped with the lock
    bob.identity.loaded = False
    await bob.db.open(bob.key, "me")
    await bob.settle()
    assert bob.actor.state == ["locked"]  # no identity yet
    bob.identity.loaded = True
    await bob.crypto.prekey_upload()  # the first operation that finds both says READY
    await bob.settle()
    assert bob.actor.state == ["ready"]
    panel.close()
    assert not bob.of("FEATURE_ERROR")


async def test_mount_refuses_an_identity_without_the_members_crypto_needs(tmp_path):
    import features.persistence as persistence_pkg

    class Partial:
        user_id = None

    identity = Feature(id="identity", name="Identity", on_mount=lambda ctx: MountResult(service=Partial()))
    app = await bootstrap([persistence_pkg.feature, identity, crypto_pkg.feature], strict=True,
                          settings={"persistence": {"profiles_dir": str(tmp_path)}})
    try:
        assert not app.report.ok
        assert "crypto" in repr(app.report) and "private_keys" in repr(app.report)
    finally:
        await app.shutdown()


@pytest.mark.skipif(not hasattr(__import__("features.identity", fromlist=["x"]), "feature"),
                    reason="the identity feature does not export its contract yet")
async def test_with_the_real_identity_feature(tmp_path):
    """Persistence + the real identity feature + crypto: contacts pinned from invites, then a
    session from the directory bundle, both ways; strangers are refused."""
    import os

    import features.identity as identity_pkg
    import features.persistence as persistence_pkg

    from features.crypto.errors import IdentityRefusedError

    apps, people = [], {}
    try:
        for name in ("alice", "bob", "eve"):
            events: list = []
            recorder = Feature(id="recorder", name="Recorder", subscribed_events=["FEATURE_ERROR", "DECRYPTION_FAILED"],
                               on_mount=lambda ctx, events=events: MountResult(handler=events.append))
            app = await bootstrap([persistence_pkg.feature, identity_pkg.feature, crypto_pkg.feature, recorder],
                                  strict=True, settings={"persistence": {"profiles_dir": str(tmp_path / name)}})
            apps.append(app)
            assert app.report.ok, app.report
            db = app.registry.mount_result("persistence").service
            await db.open(os.urandom(32), "me")
            identity = app.registry.mount_result("identity").service
            await identity.create(name.title())
            people[name] = (app, identity, app.registry.mount_result("crypto").service, events)
        (a_app, alice, a_crypto, a_events), (b_app, bob, b_crypto, b_events) = people["alice"], people["bob"]
        _, eve, e_crypto, _ = people["eve"]
        await a_app.settle(10)
        assert a_app.actors["crypto"].state == ["ready"]  # IDENTITY_CREATED moved it
        relay = "http://127.0.0.1:8765"
        await alice.add_contact(bob.invite(relay))
        await bob.add_contact(alice.invite(relay))
        directory = Directory()
        body = await b_crypto.prekey_upload()
        directory.users[bob.user_id] = {"opks": [], "max": 0, "keys": bob.public_keys()}
        await b_crypto.confirm_upload(body, directory.upload(body, bob))
        first = await a_crypto.encrypt(bob.user_id, b"hi bob", bundle=directory.fetch(bob.user_id))
        assert await b_crypto.decrypt(alice.user_id, first) == b"hi bob"
        assert await a_crypto.decrypt(bob.user_id, await b_crypto.encrypt(alice.user_id, b"hi alice")) == b"hi alice"
        # Someone never seen is pinned on first use, with keys that derive their user id.
        hello = await e_crypto.encrypt(bob.user_id, b"from eve", bundle=directory.fetch(bob.user_id))
        assert await b_crypto.decrypt(eve.user_id, hello) == b"from eve"
        assert bob.sending_allowed(eve.user_id)
        with pytest.raises(IdentityRefusedError):  # one's own bundle is refused
            await b_crypto.encrypt(bob.user_id, b"x", bundle=directory.fetch(bob.user_id))
        await b_app.settle(10)
        assert not [e for e in a_events + b_events if e.type == "FEATURE_ERROR"]
    finally:
        for app in apps:
            await app.shutdown()
