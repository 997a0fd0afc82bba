"""Fixtures: booted apps that run the signaling feature (the relay fixture is tests/conftest.py's).

Signaling connects only as a loaded identity: each peer mounts persistence and identity too
and signs up (``identities``, tests/conftest.py) unless ``signed_up=False``.

Apps are strict (tests/conftest.py): the types a test dispatches as the user are declared here.
``RELAY_SEND_REQUESTED`` is declared by whichever feature sends through signaling, and
``SIGNALING_URL_CHANGED`` by the settings feature; without those features the test declares them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, NotRequired
from urllib.parse import urlsplit

import pytest

from chatkernel import App, Event, EventSpec, Feature, MountResult, bootstrap

import features.signaling as signaling
from features.settings.events import SIGNALING_URL_CHANGED

WATCHED = ["APP_READY", "FEATURE_ERROR", "IDENTITY_CREATED", "IDENTITY_LOADED", "IDENTITY_FORGOTTEN", "RELAY_MESSAGE_RECEIVED", "RELAY_MESSAGE_SENT", "RELAY_SEND_FAILED",
           "SIGNALING_CONNECTED", "SIGNALING_DISCONNECTED", "CONNECTION_LOST", "SIGNALING_URL_REJECTED",
           "PREKEY_COUNT"]

#: What a sender (a chat feature, a notebook cell) asks signaling to deliver.
RELAY_SEND_REQUESTED = EventSpec("RELAY_SEND_REQUESTED", "MEDIUM", "send a message through signaling",
                                   {"to": str, "payload": Any, "id": NotRequired[str]})


class Peer:
    """One user: a booted app with the signaling feature and a record of what it heard."""

    def __init__(self, app: App, events: list[Event], identities: Any):
        self.app = app
        self.events = events
        self.identities = identities

    @property
    def service(self) -> Any:
        return self.app.registry.mount_result("signaling").service

    @property
    def identity(self) -> Any:
        return self.app.registry.mount_result("identity").service

    async def sign_up(self, name: str = "Alice") -> str:
        """Create this peer's identity (signaling connects as it if auto_connect is on)."""
        return await self.identities.sign_up(self.app, name)

    @property
    def actor(self) -> Any:
        return self.app.actors["signaling"]

    @property
    def state(self) -> list[str]:
        return self.actor.state

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    def url_changed(self, url: Any, *, allow_insecure_remote: bool = False, custom: bool = True) -> Event:
        """Say what the settings feature says when the relay URL changes."""
        return self.app.dispatch(SIGNALING_URL_CHANGED, {"url": url, "custom": custom,
                                                         "allow_insecure_remote": allow_insecure_remote})

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; fails the test after ``timeout`` seconds (a bound, not a measure)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)


async def make_peer(identities: Any, *, startup: str | None = None, user_events: bool = True,
                    signed_up: bool = True, name: str = "Alice", **settings: Any) -> Peer:
    events: list[Event] = []
    recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                       on_mount=lambda ctx: MountResult(handler=events.append))
    declared = [RELAY_SEND_REQUESTED, SIGNALING_URL_CHANGED] if user_events else []
    app = await bootstrap([*identities.features, signaling.feature, recorder],
                          settings=identities.settings(signaling=settings), startup=startup, events=declared)
    peer = Peer(app, events, identities)
    if signed_up:
        await peer.sign_up(name)
    return peer


#: Fast enough for tests: short polls and a backoff capped at 0.2 s.
FAST = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}


@pytest.fixture
async def peers(identities):
    made: list[Peer] = []

    async def factory(**settings: Any) -> Peer:
        peer = await make_peer(identities, **{**FAST, **settings})
        made.append(peer)
        return peer

    yield factory
    for peer in made:
        await peer.app.shutdown()


@pytest.fixture
def remote_relay_url(relay) -> str:
    """The relay at 0.0.0.0: not loopback to the URL policy, yet on Linux a connection to it
    reaches the relay listening on 127.0.0.1, so traffic stays on this machine: a "remote"
    plain-http relay that really answers."""
    remote = relay.url.replace("127.0.0.1", "0.0.0.0")
    parts = urlsplit(remote)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError:
        pytest.skip("this platform does not route 0.0.0.0 to loopback")
    return remote
