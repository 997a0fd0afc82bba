"""Cheap KDF parameters (tests check behaviour, not cost), a fake monotonic clock, and an
in-memory keyring backend: a legitimate test double for the OS service, installed with
``keyring.set_keyring`` for one test and the previous backend put back after it."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from features.auth._kdf import KdfParams

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)
FASTER_THAN_FAST = KdfParams(memory_kib=32, iterations=1, lanes=1)


class MemoryKeyring(KeyringBackend):
    """A secure-looking backend (priority 5, like Secret Service) that keeps entries in a dict."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("no such entry")
        del self.entries[(service, username)]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


# ---------------------------------------------------------------------------------------------
# A booted app: persistence + identity + auth, strict mode, tmp_path as the profiles directory.
# ---------------------------------------------------------------------------------------------

import asyncio  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from chatkernel import App, Event, Feature, MountResult, bootstrap  # noqa: E402

import features.auth as auth_feature  # noqa: E402
import features.persistence as persistence_feature  # noqa: E402

PASSPHRASE = "correct horse battery staple"
WRONG = "incorrect horse battery staple"
CHEAP = {"argon2_memory_kib": FAST.memory_kib, "argon2_iterations": FAST.iterations, "argon2_lanes": FAST.lanes}


class IdentityDouble:
    """A minimal IdentityAPI over the identity feature's pure ``_record.Identity``, its private
    bytes kept in the open profile database: a test double while the identity feature is being
    written (the real one is used when ``features.identity`` exports ``feature``)."""

    MIGRATION = {"owner": "identity", "version": 1,
                 "sql": "CREATE TABLE identity_double (id INTEGER PRIMARY KEY CHECK (id = 1), private BLOB NOT NULL)"}

    def __init__(self, persistence: Any) -> None:
        self.persistence = persistence
        self._identity: Any = None
        persistence.add_migrations([self.MIGRATION])

    @property
    def user_id(self) -> str | None:
        return None if self._identity is None else self._identity.user_id

    async def create(self, display_name: str) -> str:
        from features.identity._record import Identity

        identity = Identity.generate(display_name)  # DisplayNameError for a bad name
        if await self.persistence.fetchone("SELECT 1 FROM identity_double") is not None:
            raise RuntimeError("this profile already has an identity")
        await self.persistence.execute("INSERT INTO identity_double (id, private) VALUES (1, ?)",
                                       (identity.private_bytes(),))
        self._identity = identity
        return identity.user_id

    async def load(self) -> str | None:
        from features.identity._record import Identity

        row = await self.persistence.fetchone("SELECT private FROM identity_double WHERE id = 1")
        self._identity = None if row is None else Identity.from_private_bytes(row[0])
        return self.user_id

    def forget(self) -> None:
        self._identity = None


async def _mount_double(ctx: Any) -> MountResult:
    return MountResult(service=IdentityDouble(ctx.dependency("persistence")))


IDENTITY_DOUBLE = Feature(id="identity", name="Identity (test double)", on_mount=_mount_double,
                          dependencies=["persistence"])


def identity_feature() -> Feature:
    """The real identity feature once it exists; the double when it does not, or when
    ``CHATKERNEL_AUTH_TEST_IDENTITY=double`` asks for it."""
    real = getattr(importlib.import_module("features.identity"), "feature", None)
    if real is None or os.environ.get("CHATKERNEL_AUTH_TEST_IDENTITY") == "double":
        return IDENTITY_DOUBLE
    return real


class Booted:
    def __init__(self, app: App, events: list[Event], profiles_dir: Path):
        self.app = app
        self.events = events
        self.profiles_dir = profiles_dir

    @property
    def actor(self) -> Any:
        return self.app.actors["auth"]

    @property
    def service(self) -> Any:
        return self.app.registry.mount_result("auth").service

    @property
    def persistence(self) -> Any:
        return self.app.registry.mount_result("persistence").service

    @property
    def identity(self) -> Any:
        return self.app.registry.mount_result("identity").service

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def wait_for(self, event_type: str, count: int = 1, timeout: float = 20.0) -> dict[str, Any]:
        """The ``count``-th payload of ``event_type`` once it has been dispatched."""
        async with asyncio.timeout(timeout):
            while len(self.of(event_type)) < count:
                await asyncio.sleep(0.005)
        return self.of(event_type)[count - 1]

    async def settle(self, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            for _ in range(3):
                await self.app.settle(timeout)
                await asyncio.sleep(0.01)


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    return tmp_path / "profiles"


@pytest.fixture
async def boot(profiles_dir: Path):
    made: list[Booted] = []

    async def factory(**auth_settings: Any) -> Booted:
        events: list[Event] = []
        settings = {"persistence": {"profiles_dir": str(profiles_dir), "busy_timeout_s": 0.05},
                    "auth": {**CHEAP, **auth_settings}}
        app = await bootstrap([persistence_feature.feature, identity_feature(), auth_feature.feature],
                              settings=settings, strict=True)
        app.bus.tap(lambda event, outcome: events.append(event) if outcome == "dispatched" else None)
        booted = Booted(app, events, profiles_dir)
        made.append(booted)
        await booted.settle()
        return booted

    yield factory
    for booted in made:
        await booted.app.shutdown()


def snapshot_files(directory: Path) -> dict[str, bytes]:
    """Every file of a profile directory but the failure count, by name."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()
            and p.name != "auth.throttle.json"}


Boot = Callable[..., Awaitable[Booted]]
