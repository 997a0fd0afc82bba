"""Fixtures: fresh identities and a factory of connected (initiator, responder) session pairs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from features.crypto._keys import IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey
from features.crypto._ratchet import Session
from features.crypto._state import Limits
from features.crypto._x3dh import InitialHeader, initiate, respond

SessionPair = tuple[Session, Session]


def make_pair(limits: Limits | None = None, *, one_time: bool = True) -> SessionPair:
    """Alice runs X3DH on Bob's bundle; Bob answers from the encoded initial header."""
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk = SignedPreKey.generate(bob, 1)
    opk = OneTimePreKey.generate(9) if one_time else None
    sent = initiate(alice, PreKeyBundle.of(bob, spk, opk))
    received = respond(bob, InitialHeader.decode(sent.header.encode()), spk, opk)
    return Session.initiator(sent, limits=limits), Session.responder(received, spk, limits=limits)


@pytest.fixture
def pair_factory() -> Callable[..., SessionPair]:
    return make_pair


@pytest.fixture
def pair() -> SessionPair:
    return make_pair()


# --------------------------------------------------------------------------------------------
# The crypto feature booted for real: persistence (SQLCipher) + a test identity + crypto.

import asyncio  # noqa: E402
import os  # noqa: E402
from collections.abc import AsyncIterator, Awaitable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402

from chatkernel import App, Event, Feature, MountResult, bootstrap  # noqa: E402
from chatkernel.relay import protocol  # noqa: E402

WATCHED = ["CRYPTO_SESSION_STARTED", "PREKEYS_LOW", "DECRYPTION_FAILED", "FEATURE_ERROR"]


class TestIdentity:
    """A minimal IdentityAPI over raw Ed25519/X25519 keys, pinning on first use (a stand-in
    while the identity feature lands; it implements exactly what crypto's _api.IdentityAPI asks)."""

    __test__ = False

    def __init__(self) -> None:
        self._signing = Ed25519PrivateKey.generate()
        self._exchange = X25519PrivateKey.generate()
        self.loaded = True
        self.pins: dict[str, tuple[bytes, bytes]] = {}
        self.blocked: set[str] = set()
        self.force_status: str | None = None
        self.observed: list[str] = []

    @property
    def user_id(self) -> str | None:
        return protocol.derive_user_id(*self.public_keys()) if self.loaded else None

    def public_keys(self) -> tuple[bytes, bytes]:
        return self._signing.public_key().public_bytes_raw(), self._exchange.public_key().public_bytes_raw()

    def private_keys(self) -> tuple[bytes, bytes]:
        return self._signing.private_bytes_raw(), self._exchange.private_bytes_raw()

    async def observe_key(self, user_id: str, signing_pub: bytes, exchange_pub: bytes) -> str:
        self.observed.append(user_id)
        if self.force_status is not None:
            return self.force_status
        pinned = self.pins.setdefault(user_id, (bytes(signing_pub), bytes(exchange_pub)))
        if pinned != (bytes(signing_pub), bytes(exchange_pub)):
            self.blocked.add(user_id)
            return "changed"
        return "pinned"

    def sending_allowed(self, user_id: str) -> bool:
        return user_id not in self.blocked

    def __repr__(self) -> str:
        return f"TestIdentity({self.user_id!r})"


class Directory:
    """The relay's key directory, in memory: POST /keys bodies in, GET /keys answers out."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}

    def upload(self, body: dict[str, Any], identity: TestIdentity) -> dict[str, Any]:
        user = self.users.setdefault(body["userId"], {"opks": [], "max": 0, "keys": identity.public_keys()})
        if "signedPrekey" in body:
            assert protocol.verify_signed_prekey(user["keys"][0], body["signedPrekey"]["id"],
                                                 protocol.b64url_decode(body["signedPrekey"]["key"]),
                                                 protocol.b64url_decode(body["signedPrekey"]["sig"]))
            user["spk"] = body["signedPrekey"]
        accepted = 0
        for opk in body.get("oneTimePrekeys", []):
            if opk["id"] > user["max"]:
                user["opks"].append(opk)
                user["max"] = opk["id"]
                accepted += 1
        return {"oneTimePrekeys": len(user["opks"]), "accepted": accepted, "signedPrekeyId": user["spk"]["id"]}

    def fetch(self, user_id: str, *, one_time: bool = True) -> dict[str, Any]:
        user = self.users[user_id]
        signing, exchange = user["keys"]
        bundle = {"userId": user_id, "publicKey": {"signing": protocol.b64url_encode(signing),
                                                   "exchange": protocol.b64url_encode(exchange)},
                  "signedPrekey": dict(user["spk"])}
        if one_time and user["opks"]:
            bundle["oneTimePrekey"] = user["opks"].pop(0)
        return bundle


class Person:
    """One booted app (persistence + test identity + crypto) with its own profile directory."""

    def __init__(self, app: App, identity: TestIdentity, events: list[Event], key: bytes):
        self.app = app
        self.identity = identity
        self.events = events
        self.key = key

    @property
    def id(self) -> str:
        assert self.identity.user_id is not None
        return self.identity.user_id

    @property
    def crypto(self) -> Any:
        return self.app.registry.mount_result("crypto").service

    @property
    def db(self) -> Any:
        return self.app.registry.mount_result("persistence").service

    @property
    def actor(self) -> Any:
        return self.app.actors["crypto"]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def settle(self) -> None:
        for _ in range(3):
            await self.app.settle(10)
            await asyncio.sleep(0.01)

    async def publish(self, directory: Directory) -> dict[str, Any]:
        body = await self.crypto.prekey_upload()
        answer = directory.upload(body, self.identity)
        await self.crypto.confirm_upload(body, answer)
        return body

    async def reopen(self) -> None:
        await self.db.close()
        await self.db.open(self.key, "me")

    async def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every crypto table, every row, in a fixed order: to compare byte for byte."""
        from features.crypto._store import CRYPTO_TABLES

        return {t: await self.db.fetchall(f"SELECT * FROM {t} ORDER BY 1") for t in CRYPTO_TABLES}


def identity_feature(identity: TestIdentity) -> Feature:
    return Feature(id="identity", name="Identity (test double)", on_mount=lambda ctx: MountResult(service=identity))


OUTBOX = {"owner": "testapp", "version": 1,
          "sql": "CREATE TABLE outbox (id TEXT PRIMARY KEY, peer TEXT NOT NULL, envelope BLOB NOT NULL)"}


@pytest.fixture
async def people(tmp_path: Path) -> AsyncIterator[Callable[[str], Awaitable[Person]]]:
    import features.crypto as crypto_pkg
    import features.persistence as persistence_pkg

    made: list[Person] = []

    async def factory(name: str, *, identity: TestIdentity | None = None, **crypto_settings: Any) -> Person:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        identity = identity or TestIdentity()
        settings: dict[str, Any] = {"persistence": {"profiles_dir": str(tmp_path / name), "busy_timeout_s": 0.05}}
        if crypto_settings:
            settings["crypto"] = crypto_settings
        app = await bootstrap([persistence_pkg.feature, identity_feature(identity), crypto_pkg.feature, recorder],
                              settings=settings, strict=True)
        person = Person(app, identity, events, os.urandom(32))
        made.append(person)
        person.db.add_migrations([OUTBOX])
        await person.db.open(person.key, "me")
        await person.settle()
        return person

    yield factory
    for person in made:
        await person.app.shutdown()
