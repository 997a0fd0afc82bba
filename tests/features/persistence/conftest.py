"""Fixtures: a persistence service on a temporary profiles directory, a key, and a booted app.

Every database is real (SQLCipher through the ``sqlcipher3`` wheel) and lives under pytest's
``tmp_path``; the busy timeout is short so a lock is reported at once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from chatkernel import App, Event, Feature, MountResult, bootstrap

import features.persistence as persistence_feature
from features.persistence._config import PersistenceConfig
from features.persistence.service import PersistenceService

WATCHED = ["PERSISTENCE_OPENED", "PERSISTENCE_LOCKED", "PERSISTENCE_ERROR", "FEATURE_ERROR"]


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def config(tmp_path: Path) -> PersistenceConfig:
    return PersistenceConfig(profiles_dir=str(tmp_path / "profiles"), busy_timeout_s=0.05)


@pytest.fixture
async def make_service(config: PersistenceConfig) -> AsyncIterator[Callable[..., PersistenceService]]:
    made: list[PersistenceService] = []

    def factory(**kw: Any) -> PersistenceService:
        service = PersistenceService(config, **kw)
        made.append(service)
        return service

    yield factory
    for service in made:
        await service.close()


@pytest.fixture
async def service(make_service: Callable[..., PersistenceService], key: bytes) -> PersistenceService:
    """Open on profile ``alice``."""
    s = make_service()
    await s.open(key, "alice")
    return s


class Booted:
    """An app with the persistence feature and a recorder of what it said."""

    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    @property
    def actor(self) -> Any:
        return self.app.actors["persistence"]

    @property
    def service(self) -> Any:
        return self.app.registry.mount_result("persistence").service

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def settle(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            for _ in range(3):
                await self.app.settle(timeout)
                await asyncio.sleep(0.01)


@pytest.fixture
async def boot(config: PersistenceConfig) -> AsyncIterator[Callable[..., Awaitable[Booted]]]:
    made: list[Booted] = []

    async def factory(*extra: Feature) -> Booted:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        overrides = {"profiles_dir": config.profiles_dir, "busy_timeout_s": config.busy_timeout_s}
        app = await bootstrap([persistence_feature.feature, recorder, *extra],
                              settings={"persistence": overrides})
        booted = Booted(app, events)
        made.append(booted)
        await booted.settle()
        return booted

    yield factory
    for booted in made:
        await booted.app.shutdown()
