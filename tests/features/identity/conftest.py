"""Fixed identities, so failures reproduce: keys from constant seeds, never from the OS."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from features.identity._record import Identity


def fixed_identity(n: int, name: str) -> Identity:
    seed = bytes((n * 7 + i) % 256 for i in range(32))
    other = bytes((n * 13 + 3 * i + 1) % 256 for i in range(32))
    return Identity(Ed25519PrivateKey.from_private_bytes(seed), X25519PrivateKey.from_private_bytes(other), name)


@pytest.fixture
def alice() -> Identity:
    return fixed_identity(1, "Alice")


@pytest.fixture
def bob() -> Identity:
    return fixed_identity(2, "Bob")


@pytest.fixture
def mallory() -> Identity:
    return fixed_identity(3, "Mallory")


# ---------------------------------------------------------------------- the booted feature
# A real app in strict mode: persistence (SQLCipher under tmp_path, a random 32-byte key) and
# identity, plus a recorder of everything the two features and the kernel's errors say.

import asyncio  # noqa: E402
import os  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from chatkernel import App, Event, Feature, MountResult, bootstrap  # noqa: E402

import features.identity as identity_feature  # noqa: E402
import features.persistence as persistence_feature  # noqa: E402
from features.identity import events as identity_events  # noqa: E402

WATCHED = [spec.type for spec in identity_events.EMITTED] + ["PERSISTENCE_OPENED", "PERSISTENCE_LOCKED",
                                                             "PERSISTENCE_ERROR", "FEATURE_ERROR"]


class Booted:
    """An app with persistence and identity, and a recorder of what was said."""

    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    @property
    def actor(self) -> Any:
        return self.app.actors["identity"]

    @property
    def service(self) -> Any:
        return self.app.registry.mount_result("identity").service

    @property
    def db(self) -> Any:
        return self.app.registry.mount_result("persistence").service

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def settle(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            for _ in range(3):
                await self.app.settle(timeout)
                await asyncio.sleep(0.01)


@pytest.fixture
def db_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def profiles_dir(tmp_path: Path) -> str:
    return str(tmp_path / "profiles")


@pytest.fixture
async def boot(profiles_dir: str) -> AsyncIterator[Callable[..., Awaitable[Booted]]]:
    """``await boot()`` -> a Booted app; ``await boot(key=k, profile="alice")`` also opens that profile."""
    made: list[Booted] = []

    async def factory(*, key: bytes | None = None, profile: str = "alice",
                      identity_settings: dict[str, Any] | None = None) -> Booted:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        settings: dict[str, Any] = {"persistence": {"profiles_dir": profiles_dir, "busy_timeout_s": 0.05}}
        if identity_settings:
            settings["identity"] = identity_settings
        app = await bootstrap([persistence_feature.feature, identity_feature.feature, recorder],
                              settings=settings, strict=True)
        booted = Booted(app, events)
        made.append(booted)
        if key is not None:
            await booted.db.open(key, profile)
        await booted.settle()
        return booted

    yield factory
    for booted in made:
        await booted.app.shutdown()  # a no-op for an app a test already shut down
