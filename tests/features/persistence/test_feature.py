"""The persistence feature booted by the kernel: its contract, the events its machine says, a
dependent reaching the service through a Protocol, and an import with no side effects."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import pytest

from chatkernel import Feature, MountResult

import features.persistence as persistence_pkg
from features.persistence import events as ev
from features.persistence._config import PersistenceConfig
from features.persistence.api import PersistenceAPI

ROOT = Path(__file__).resolve().parents[3]


def test_contract():
    f = persistence_pkg.feature
    assert persistence_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version, f.dependencies) == ("persistence", "Persistence", "1.0.0", ())
    assert f.subscribed_events == ()
    assert f.emitted_types == ("PERSISTENCE_OPENED", "PERSISTENCE_LOCKED", "PERSISTENCE_ERROR")
    assert dataclasses.asdict(f.settings) == {"profiles_dir": None, "default_profile": "default",
                                              "busy_timeout_s": 5.0}
    assert f.settings == PersistenceConfig()
    assert dict(ev.PERSISTENCE_ERROR.fields) == {"profile": str | None, "kind": str, "reason": str}
    assert all(spec.priority.name == "HIGH" for spec in ev.EMITTED)
    assert list(f.ui) == ["PersistenceStatus"] and f.on_unmount is not None
    assert ev.EMITTED == f.emitted_events


def test_importing_the_package_loads_the_heavy_parts_only_when_asked():
    """No threads or logs on import is checked for every package in tests/architecture."""
    probe = """
import sys, threading
before = threading.active_count()
import features.persistence
heavy = [m for m in ("sqlcipher3", "platformdirs", "ipywidgets", "features.persistence.service",
                     "features.persistence.machine", "features.persistence.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
panel = features.persistence.feature.ui["PersistenceStatus"]()
assert panel.__name__ == "PersistenceStatus" and "ipywidgets" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


pytestmark = pytest.mark.anyio


async def test_mounting_opens_nothing(boot, config):
    b = await boot()
    assert b.actor.state == ["closed"] and b.service.state == "closed"
    assert not Path(config.profiles_dir).exists()
    assert b.app.report.ok and not b.of("FEATURE_ERROR")


async def test_open_and_lock_are_announced(boot, key):
    b = await boot()
    await b.service.open(key, "alice")
    await b.settle()
    assert b.actor.state == ["open"] and b.actor.machine.profile == "alice"
    assert b.of("PERSISTENCE_OPENED") == [{"profile": "alice", "created": True, "migrations_applied": 0}]
    opened = next(e for e in b.events if e.type == "PERSISTENCE_OPENED")
    assert opened.source == "persistence" and opened.priority.name == "HIGH"
    b.actor.send("LOCK")
    await b.settle()
    assert b.actor.state == ["closed"] and b.service.state == "closed"
    assert b.of("PERSISTENCE_LOCKED") == [{"profile": "alice"}]
    assert not b.of("FEATURE_ERROR")


async def test_a_failure_is_announced_without_the_key_and_lock_clears_it(boot, key):
    b = await boot()
    await b.service.open(key, "alice")
    await b.service.close()
    with pytest.raises(Exception, match="does not unlock"):
        await b.service.open(os.urandom(32), "alice")
    await b.settle()
    assert b.actor.state == ["error"]
    [failure] = b.of("PERSISTENCE_ERROR")
    assert failure == {"profile": "alice", "kind": "wrong_key", "reason": "the key does not unlock this profile"}
    assert b.actor.machine.last_error == {"kind": "wrong_key", "reason": "the key does not unlock this profile"}
    every_payload = repr([e.payload for e in b.events]) + repr(b.actor.snapshot())
    assert key.hex() not in every_payload
    b.actor.send("LOCK")
    await b.settle()
    assert b.actor.state == ["closed"]
    await b.service.open(key, "alice")  # and the right key opens it again
    await b.settle()
    assert b.actor.state == ["open"]


async def test_unmount_closes_the_database(boot, key):
    b = await boot()
    await b.service.open(key, "alice")
    service = b.service
    await b.app.shutdown()
    assert service.state == "closed"


class ChatStore(Protocol):
    """What a dependent (here a test feature) declares in its own folder: a copy of the members it uses."""

    def add_migrations(self, migrations: Iterable[Any]) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def run_in_transaction(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...

    async def fetchall(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]: ...


async def test_a_dependent_reaches_the_service_through_its_protocol(boot, key):
    got: dict[str, Any] = {}

    async def mount_chat(ctx):
        store = ctx.dependency("persistence", ChatStore)
        store.add_migrations([{"owner": "chat", "version": 1,
                               "sql": "CREATE TABLE message (id TEXT PRIMARY KEY, body TEXT)"}])
        got["store"] = store
        return MountResult()

    chat = Feature(id="chat", name="Chat", on_mount=mount_chat, dependencies=["persistence"],
                   requires={"persistence": ChatStore})
    b = await boot(chat)
    assert "chat" in b.app.registry.order() and not b.of("FEATURE_ERROR")
    await b.service.open(key, "alice")
    await b.settle()
    assert b.of("PERSISTENCE_OPENED")[0]["migrations_applied"] == 1
    async with got["store"].transaction() as tx:
        await tx.execute("INSERT INTO message VALUES ('m1', 'hello')")
    assert await got["store"].fetchall("SELECT body FROM message") == [("hello",)]


def test_the_published_protocol_matches_the_service():
    from chatkernel import check_service
    from features.persistence.service import PersistenceService

    check_service("chat", "persistence", PersistenceService(PersistenceConfig(profiles_dir="/nonexistent")),
                  PersistenceAPI)
