"""Shared test configuration: async tests run on asyncio through anyio's pytest plugin, and
every app the suite boots validates each payload against its spec (strict mode). The
``identities`` fixture boots and signs up the identity that signaling connects as; ``relay`` is a
real relay on loopback."""

import logging
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("CHATKERNEL_STRICT", "1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _chatkernel_logger_restored():
    """The CLIs run in-process in some tests and configure the ``chatkernel`` logger (a level, a
    handler on that test's captured stderr); each test gets it back as it found it, so no test
    depends on which ran before it."""
    logger = logging.getLogger("chatkernel")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


class Identities:
    """Boots apps with a real identity: signaling connects only as a loaded identity, so every
    app that runs it mounts persistence and identity too (``features`` before the rest) and signs
    up (``await identities.sign_up(app, "Alice")``: a profile database under ``tmp_path`` opened
    with a random 32-byte key, then ``identity.create(name)``). One helper, shared by every test
    directory through the ``identities`` fixture."""

    def __init__(self, root: Path):
        self.root = root
        self._made = 0
        self.keys: dict[str, bytes] = {}  # profile -> its database key, to log in again after a restart

    @property
    def features(self) -> list[Any]:
        import features.identity
        import features.persistence

        return [features.persistence.feature, features.identity.feature]

    def settings(self, **per_feature: Any) -> dict[str, Any]:
        """Boot settings: persistence under ``tmp_path/profiles`` plus ``per_feature`` overrides."""
        return {"persistence": {"profiles_dir": str(self.root / "profiles"), "busy_timeout_s": 0.05}, **per_feature}

    async def sign_up(self, app: Any, name: str = "Alice", *, profile: str | None = None) -> str:
        """Open a fresh profile database and create its identity; the identity's user id."""
        self._made += 1
        name_of_profile = profile or f"profile{self._made}"
        self.keys[name_of_profile] = os.urandom(32)
        db = app.registry.mount_result("persistence").service
        await db.open(self.keys[name_of_profile], name_of_profile)
        return str(await app.registry.mount_result("identity").service.create(name))

    async def log_in(self, app: Any, profile: str) -> str:
        """Open ``profile`` again (in another app: a restarted kernel) and load its identity."""
        db = app.registry.mount_result("persistence").service
        await db.open(self.keys[profile], profile)
        return str(await app.registry.mount_result("identity").service.load())

    @staticmethod
    def profile_of(app: Any) -> str:
        return str(app.registry.mount_result("persistence").service.profile)


@pytest.fixture
def identities(tmp_path: Path) -> Identities:
    return Identities(tmp_path)


@pytest.fixture
async def relay() -> Any:
    """A real relay on a free loopback port (memory store), for one test; the relay's own tests
    (tests/chatkernel/relay/) override it with their configured one."""
    from chatkernel.relay import EmbeddedRelay

    server = await EmbeddedRelay.start(store="memory")
    yield server
    await server.stop()
