"""Fixtures: ``people`` run the whole secure stack (identity, crypto, signaling, messaging,
contacts, chat and groups) against a real relay on loopback, signed up, connected and in each
other's contacts, with a record of what each heard. No double: what a member does reaches the
others through the relay, and ``people.quiet(*who)`` waits until it has."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import features.chat
import features.contacts
import features.crypto
import features.groups
import features.messaging
import features.signaling
from chatkernel import App, Event, Feature, MountResult, bootstrap

WATCHED = ["FEATURE_ERROR", "GROUP_CREATED", "GROUP_UPDATED", "GROUP_LEFT", "GROUP_SELECTED", "GROUP_CHANGED",
           "CONTACT_BLOCKED", "PREKEYS_PUBLISHED"]
FAST = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}


class Person:
    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    def service(self, feature: str) -> Any:
        return self.app.registry.mount_result(feature).service

    @property
    def groups(self) -> Any:
        return self.service("groups")

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
    def identity(self) -> Any:
        return self.service("identity")

    @property
    def db(self) -> Any:
        return self.service("persistence")

    @property
    def user_id(self) -> str:
        return str(self.identity.user_id)

    @property
    def actor(self) -> Any:
        return self.app.actors["groups"]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def heard(self, event_type: str) -> list[dict[str, Any]]:
        """What was said of ``event_type`` once the bus delivered everything pending."""
        await self.app.settle()
        return self.of(event_type)

    async def changes(self) -> list[str]:
        """What messaging changed in our groups (GROUP_CHANGED), in order: nothing written, nothing here."""
        return [e["change"] for e in await self.heard("GROUP_CHANGED")]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; a bound on the test, not a measure."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def ready(self) -> None:
        await self.wait_for(lambda: self.actor.state == ["ready"])

    async def offline(self) -> None:
        """Signaling's own disconnect: nothing reaches the relay until ``online()``."""
        self.app.actors["signaling"].send("DISCONNECT")
        await self.wait_for(lambda: self.app.actors["signaling"].state == ["disconnected"])

    async def online(self) -> None:
        self.app.actors["signaling"].send("CONNECT")
        await self.wait_for(lambda: self.app.actors["signaling"].state == ["connected"])

    async def logged_in_again(self) -> None:
        """``identity.load()`` after ``identity.forget()``, and until the stack is back: connected
        with its prekeys on the relay (so no start-up work is cut off at shutdown)."""
        published = len(self.of("PREKEYS_PUBLISHED"))
        await self.identity.load()
        await self.wait_for(lambda: len(self.of("PREKEYS_PUBLISHED")) > published)
        await self.app.settle()

    def entry(self, group: str) -> dict[str, Any] | None:
        """Our group list's entry for ``group`` as last read (None: not in it)."""
        return next((g for g in self.groups.listed() if g["group"] == group), None)

    async def has(self, group: str) -> dict[str, Any]:
        """Until ``group`` is in our list (an invitation came); its entry."""
        await self.wait_for(lambda: self.entry(group) is not None)
        return self.entry(group)  # type: ignore[return-value]


async def _quiet(relay: Any, *people: Person) -> None:
    """Until nothing is on its way (no group control due, nothing to send, every mailbox read),
    three times in a row, and each bus delivered what it heard: every invitation, update and
    key has been taken up, and each list read again."""
    async with asyncio.timeout(20):
        calm = 0
        while calm < 3:
            busy = False
            for person in people:
                busy |= bool(await person.messaging.flush_group_controls())
                busy |= bool(person.signaling.pending_sends)
                busy |= bool(await relay.store.length(person.user_id))
            calm = 0 if busy else calm + 1
            await asyncio.sleep(0.01)
        for person in people:
            await person.app.settle()


@pytest.fixture
async def people(identities, relay):
    """``alice, bob, carol = await people("Alice", "Bob", "Carol")``: signed up, connected, each
    in the others' contacts (``befriend=False``: in nobody's), groups ready. ``people.boot()`` is
    one not signed up; ``people.quiet(alice, bob)`` waits until nothing is on its way."""
    made: list[Person] = []

    async def boot(**settings: Any) -> Person:
        events: list[Event] = []
        recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                           on_mount=lambda ctx: MountResult(handler=events.append))
        signaling = {"url": relay.url, **FAST, **settings.pop("signaling", {})}
        app = await bootstrap([*identities.features, features.crypto.feature, features.signaling.feature,
                               features.messaging.feature, features.contacts.feature, features.chat.feature,
                               features.groups.feature, recorder],
                              settings=identities.settings(signaling=signaling, **settings))
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
                                  and p.contacts.ready and p.messaging.stats["relay_prekeys"] is not None)
        if befriend:
            for person in out:
                for other in out:
                    if other is not person:
                        await person.contacts.add(other.identity.invite(relay.url), other.identity.display_name)
        return out

    async def quiet(*who: Person) -> None:
        await _quiet(relay, *who)

    factory.boot = boot  # type: ignore[attr-defined]
    factory.quiet = quiet  # type: ignore[attr-defined]
    yield factory
    for person in made:
        await person.app.shutdown()
