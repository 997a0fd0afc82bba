"""Fixtures: people running the whole secure stack and chat against a real relay on loopback,
signed up, connected and in each other's contact lists, with a record of what each heard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import features.chat
import features.contacts
import features.crypto
import features.messaging
import features.signaling
from chatkernel import App, Event, Feature, MountResult, bootstrap

WATCHED = ["FEATURE_ERROR", "MESSAGE_RECEIVED", "MESSAGE_SENT", "MESSAGE_FAILED", "MESSAGE_DELIVERED",
           "MESSAGE_READ", "MESSAGE_EDITED", "MESSAGE_DELETED", "TYPING_STARTED", "CONVERSATION_OPENED",
           "CONVERSATION_CLOSED", "UNREAD_CHANGED", "SECURE_MESSAGE_RECEIVED", "CONTACT_BLOCKED", "RELAY_MESSAGE_RECEIVED",
           "UNREADABLE_MESSAGE", "GROUP_CHANGED"]
FAST = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}


class Person:
    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    def service(self, feature: str) -> Any:
        return self.app.registry.mount_result(feature).service

    @property
    def chat(self) -> Any:
        return self.service("chat")

    @property
    def contacts(self) -> Any:
        return self.service("contacts")

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

    @property
    def actor(self) -> Any:
        return self.app.actors["chat"]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; a bound on the test, not a measure."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def status_of(self, conversation: str, message_id: str, status: str) -> None:
        async def check() -> None:
            while (await self.chat.message(conversation, message_id))["status"] != status:
                await asyncio.sleep(0.005)
        async with asyncio.timeout(10):
            await check()


@pytest.fixture
async def people(identities, relay):
    """``alice, bob = await people("Alice", "Bob")``: signed up, connected, each in the other's
    contacts; ``people.restart(p)`` the same profile in a new app (a restarted kernel)."""
    made: list[Person] = []

    async def boot(extra: tuple[Any, ...] = (), **settings: Any) -> Person:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        signaling = {"url": relay.url, **FAST, **settings.pop("signaling", {})}
        app = await bootstrap([*identities.features, features.crypto.feature, features.signaling.feature,
                               features.messaging.feature, features.contacts.feature, features.chat.feature,
                               *extra, recorder], settings=identities.settings(signaling=signaling, **settings))
        person = Person(app, events)
        made.append(person)
        return person

    async def factory(*names: str, befriend: bool = True, **settings: Any) -> list[Person]:
        out = []
        for name in names:
            person = await boot(**settings)
            await identities.sign_up(person.app, name)
            out.append(person)
        for person in out:
            await person.wait_for(lambda p=person: p.actor.state == ["ready"]  # and its prekeys on the relay
                                  and p.messaging.stats["relay_prekeys"] is not None)
        if befriend:
            for person in out:
                for other in out:
                    if other is not person:
                        await person.contacts.add(other.service("identity").invite(relay.url),
                                                  other.service("identity").display_name)
        return out

    async def restart(person: Person, **settings: Any) -> Person:
        profile = identities.profile_of(person.app)
        await person.app.shutdown()
        again = await boot(**settings)
        await identities.log_in(again.app, profile)
        await again.wait_for(lambda: again.actor.state == ["ready"])
        return again

    factory.boot = boot  # type: ignore[attr-defined]
    factory.restart = restart  # type: ignore[attr-defined]
    yield factory
    for person in made:
        await person.app.shutdown()
