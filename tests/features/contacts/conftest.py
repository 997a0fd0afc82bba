"""Fixtures: people with persistence, identity and contacts booted, signed up, and a record of
what each heard. Invites name a loopback relay URL; no relay is needed to add a contact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chatkernel import App, Event, Feature, MountResult, bootstrap

from chatkernel import EventSpec

import features.contacts

RELAY_URL = "http://127.0.0.1:8765"
WATCHED = ["FEATURE_ERROR", "CONTACT_ADDED", "CONTACT_SELECTED", "CONTACT_RENAMED", "CONTACT_BLOCKED",
           "CONTACT_REMOVED", "PRESENCE_CHANGED", "CONTACT_VERIFIED", "KEY_CHANGED"]


# The events contacts hears from messaging and chat, declared as those features declare them, so
# a test can say them without booting a relay.
PEERS = Feature(id="peers", name="Messaging and chat (test double)", on_mount=lambda ctx: MountResult(),
                emitted_events=(
    EventSpec("SECURE_MESSAGE_RECEIVED", "HIGH", "a message was decrypted and stored",
              {"peer": str, "id": str, "kind": str, "sent_at": int}),
    EventSpec("UNREAD_CHANGED", "LOW", "the unread count of a conversation", {"conversation": str, "unread": int}),
))


class Person:
    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    @property
    def contacts(self) -> Any:
        return self.app.registry.mount_result("contacts").service

    @property
    def identity(self) -> Any:
        return self.app.registry.mount_result("identity").service

    @property
    def actor(self) -> Any:
        return self.app.actors["contacts"]

    @property
    def user_id(self) -> str:
        return str(self.identity.user_id)

    def invite(self) -> str:
        return str(self.identity.invite(RELAY_URL))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def heard(self, event_type: str) -> list[dict[str, Any]]:
        """What was said of ``event_type`` once the bus delivered everything pending."""
        await self.app.settle()
        return self.of(event_type)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; a bound on the test, not a measure."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def ready(self) -> None:
        await self.wait_for(lambda: self.actor.state == ["ready"])


@pytest.fixture
async def people(identities):
    """``alice, bob = await people("Alice", "Bob")``: signed up, their contact lists loaded;
    ``people.boot()`` an app not signed up; ``people.restart(p)`` the same profile in a new app."""
    made: list[Person] = []

    async def boot(**contacts: Any) -> Person:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        app = await bootstrap([*identities.features, features.contacts.feature, recorder, PEERS],
                              settings=identities.settings(contacts=contacts))
        person = Person(app, events)
        made.append(person)
        return person

    async def factory(*names: str, **contacts: Any) -> list[Person]:
        out = []
        for name in names:
            person = await boot(**contacts)
            await identities.sign_up(person.app, name)
            await person.ready()
            out.append(person)
        return out

    async def restart(person: Person) -> Person:
        profile = identities.profile_of(person.app)
        await person.app.shutdown()
        again = await boot()
        await identities.log_in(again.app, profile)
        await again.ready()
        return again

    factory.boot = boot  # type: ignore[attr-defined]
    factory.restart = restart  # type: ignore[attr-defined]
    yield factory
    for person in made:
        await person.app.shutdown()
