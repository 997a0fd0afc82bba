"""Fixtures: people with persistence, identity, settings, a chat test double and notifications
booted (strict mode), signed up, and a record of everything said on their bus.

The chat double declares the chat feature's events exactly as the chat contract does and serves
a fake service with the shape of ``features.notifications._api.ChatAPI``: conversations it shows,
previews it gives (or refuses) and unread counts, all set by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chatkernel import App, ChatKernelError, Event, EventSpec, Feature, MountResult, bootstrap

import features.notifications
import features.settings

BODY = "the secret body of the message, never logged"
GROUP = "group:" + "ab" * 16

CHAT_EVENTS = (
    EventSpec("MESSAGE_RECEIVED", "HIGH", "a message arrived in a conversation",
              {"conversation": str, "peer": str, "id": str, "sent_at": int}),
    EventSpec("CONVERSATION_OPENED", "MEDIUM", "the chat window shows a conversation", {"conversation": str}),
    EventSpec("CONVERSATION_CLOSED", "MEDIUM", "the chat window stopped showing a conversation",
              {"conversation": str}),
    EventSpec("UNREAD_CHANGED", "LOW", "the unread count of a conversation", {"conversation": str, "unread": int}),
)


class UnknownMessageError(ChatKernelError):
    """What the chat raises for a message it does not know."""


class FakeChat:
    """The chat's service as notifications sees it (``ChatAPI``)."""

    def __init__(self) -> None:
        self.ctx: Any = None
        self.showing: set[str] = set()
        self.counts: dict[str, int] = {}
        self.previews: dict[str, Any] = {}
        self.failing: set[str] = set()
        self.asked: list[tuple[str, str]] = []
        self.delay = 0.0

    def is_open(self, conversation: str) -> bool:
        return conversation in self.showing

    async def preview(self, conversation: str, message_id: str) -> dict[str, str]:
        self.asked.append((conversation, message_id))
        if self.delay:
            await asyncio.sleep(self.delay)
        if message_id in self.failing:
            raise UnknownMessageError(f"no message {message_id!r}: {BODY}")
        return self.previews.get(message_id, {"title": f"Chat with {conversation[:8]}", "author": "Bob",
                                              "text": BODY})

    def unread_counts(self) -> dict[str, int]:
        return dict(self.counts)

    # what the real chat would say
    def receive(self, conversation: str, message_id: str, peer: str | None = None) -> None:
        self.ctx.emit("MESSAGE_RECEIVED", {"conversation": conversation, "peer": peer or conversation,
                                           "id": message_id, "sent_at": 1_700_000_000_000})

    def open(self, conversation: str) -> None:
        self.showing.add(conversation)
        self.ctx.emit("CONVERSATION_OPENED", {"conversation": conversation})

    def close(self, conversation: str) -> None:
        self.showing.discard(conversation)
        self.ctx.emit("CONVERSATION_CLOSED", {"conversation": conversation})

    def unread(self, conversation: str, count: int) -> None:
        self.counts[conversation] = count
        self.ctx.emit("UNREAD_CHANGED", {"conversation": conversation, "unread": count})


def chat_double(fake: FakeChat) -> Feature:
    async def mount(ctx: Any) -> MountResult:
        fake.ctx = ctx
        return MountResult(service=fake)

    return Feature(id="chat", name="Chat (test double)", on_mount=mount, emitted_events=CHAT_EVENTS)


class Person:
    def __init__(self, app: App, events: list[Event], chat: FakeChat):
        self.app = app
        self.events = events
        self.chat = chat

    @property
    def notifications(self) -> Any:
        return self.app.registry.mount_result("notifications").service

    @property
    def actor(self) -> Any:
        return self.app.actors["notifications"]

    @property
    def settings_actor(self) -> Any:
        return self.app.actors["settings"]

    @property
    def user_id(self) -> str:
        return str(self.app.registry.mount_result("identity").service.user_id)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def heard(self, event_type: str) -> list[dict[str, Any]]:
        await self.app.settle()
        return self.of(event_type)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; a bound on the test, not a measure."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def ready(self) -> None:
        await self.wait_for(lambda: self.actor.state == ["ready"])

    async def message(self, conversation: str, message_id: str) -> None:
        """The chat receives a message; returns once notifications has handled it."""
        before = self.notifications.stats()
        self.chat.receive(conversation, message_id)
        await self.wait_for(lambda: self._handled(before))
        await self.app.settle()

    def _handled(self, before: dict[str, Any]) -> bool:
        now = self.notifications.stats()
        return now["shown"] + sum(now["suppressed"].values()) > before["shown"] + sum(before["suppressed"].values())


@pytest.fixture
async def people(identities):
    """``alice, = await people("Alice")``: signed up, mutes loaded; ``people.boot()`` an app not
    signed up; ``people.restart(p)`` the same profile in a new app."""
    made: list[Person] = []

    async def boot(*, with_chat: bool = True, with_settings: bool = True, **notifications: Any) -> Person:
        events: list[Event] = []
        fake = FakeChat()
        app = await bootstrap(
            [*identities.features, *([features.settings.feature] if with_settings else []),
             *([chat_double(fake)] if with_chat else []), features.notifications.feature],
            settings=identities.settings(**({"notifications": notifications} if notifications else {})),
            strict=True)
        app.bus.tap(lambda event, outcome: events.append(event) if outcome == "dispatched" else None)
        person = Person(app, events, fake)
        made.append(person)
        return person

    async def factory(*names: str, **notifications: Any) -> list[Person]:
        out = []
        for name in names:
            person = await boot(**notifications)
            await identities.sign_up(person.app, name)
            await person.ready()
            out.append(person)
        return out

    async def restart(person: Person, **notifications: Any) -> Person:
        profile = identities.profile_of(person.app)
        await person.app.shutdown()
        again = await boot(**notifications)
        await identities.log_in(again.app, profile)
        await again.ready()
        return again

    factory.boot = boot  # type: ignore[attr-defined]
    factory.restart = restart  # type: ignore[attr-defined]
    yield factory
    for person in made:
        await person.app.shutdown()
