"""Fixtures: a real relay on loopback and booted apps that run the signaling feature."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chatkernel import App, Event, Feature, MountResult, bootstrap

import features.signaling as signaling

WATCHED = ["MESSAGE_RECEIVED", "MESSAGE_SENT", "MESSAGE_SEND_FAILED", "SIGNALING_CONNECTED",
           "SIGNALING_DISCONNECTED", "CONNECTION_LOST", "SIGNALING_URL_REJECTED"]


class Peer:
    """One user: a booted app with the signaling feature and a record of what it heard."""

    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    @property
    def service(self) -> Any:
        return self.app.registry.mount_result("signaling").service

    @property
    def actor(self) -> Any:
        return self.app.actors["signaling"]

    @property
    def state(self) -> list[str]:
        return self.actor.state

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)


async def make_peer(*, startup: str | None = None, **settings: Any) -> Peer:
    events: list[Event] = []
    recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                       on_mount=lambda ctx: MountResult(handler=events.append))
    app = await bootstrap([signaling.feature, recorder], settings={"signaling": settings}, startup=startup)
    return Peer(app, events)


@pytest.fixture
async def peers():
    made: list[Peer] = []

    async def factory(**settings: Any) -> Peer:
        peer = await make_peer(**{"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2, **settings})
        made.append(peer)
        return peer

    yield factory
    for peer in made:
        await peer.app.shutdown()


@pytest.fixture
async def relay():
    from chatkernel.relay import EmbeddedRelay

    server = await EmbeddedRelay.start(store="memory")
    yield server
    await server.stop()
