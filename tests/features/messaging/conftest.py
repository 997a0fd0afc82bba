"""Fixtures: people with the whole secure stack (persistence, identity, crypto, signaling,
messaging) booted against a real relay on loopback, signed up, and a record of what each heard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chatkernel import App, Event, Feature, MountResult, bootstrap

import features.crypto
import features.messaging
import features.signaling

WATCHED = ["FEATURE_ERROR", "SECURE_MESSAGE_RECEIVED", "SECURE_MESSAGE_SENT", "SECURE_MESSAGE_FAILED",
           "UNREADABLE_MESSAGE", "PREKEYS_PUBLISHED", "DECRYPTION_FAILED", "CRYPTO_SESSION_STARTED",
           "RELAY_MESSAGE_RECEIVED", "RELAY_MESSAGE_SENT", "SIGNALING_CONNECTED", "SECURE_MESSAGE_CHANGED",
           "RECEIPT_RECEIVED", "PEER_TYPING", "GROUP_CHANGED"]
FAST = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}


class Person:
    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    def service(self, feature: str) -> Any:
        return self.app.registry.mount_result(feature).service

    @property
    def messaging(self) -> Any:
        return self.service("messaging")

    @property
    def signaling(self) -> Any:
        return self.service("signaling")

    @property
    def db(self) -> Any:
        return self.service("persistence")

    @property
    def user_id(self) -> str:
        return str(self.service("identity").user_id)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; a bound on the test, not a measure."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def connected(self) -> None:
        await self.wait_for(lambda: self.app.actors["signaling"].state == ["connected"]
                            and bool(self.of("PREKEYS_PUBLISHED")))


@pytest.fixture
async def people(identities, relay):
    """``await people("Alice", ...)``: signed-up people, connected, prekeys published;
    ``await people.restart(person)``: the same profile in a new app (a restarted kernel)."""
    made: list[Person] = []

    async def boot(**signaling: Any) -> Person:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        app = await bootstrap([*identities.features, features.crypto.feature, features.signaling.feature,
                               features.messaging.feature, recorder],
                              settings=identities.settings(signaling={"url": relay.url, **FAST, **signaling}))
        person = Person(app, events)
        made.append(person)
        return person

    async def factory(*names: str, **signaling: Any) -> list[Person]:
        out = []
        for name in names:
            person = await boot(**signaling)
            await identities.sign_up(person.app, name)
            out.append(person)
        for person in out:
            if signaling.get("auto_connect", True):
                await person.connected()
        return out

    async def restart(person: Person, **signaling: Any) -> Person:
        profile = identities.profile_of(person.app)
        await person.app.shutdown()
        again = await boot(**signaling)
        await identities.log_in(again.app, profile)
        return again

    factory.restart = restart  # type: ignore[attr-defined]
    yield factory
    for person in made:
        await person.app.shutdown()
