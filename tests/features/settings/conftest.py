"""Fixtures: booted apps running the settings feature, a real relay, and a misbehaving server.

Every network peer is real and on loopback: the embedded relay, a closed port (refused), and a
raw-HTTP server whose answer depends on the first path segment (wrong service, not JSON, 404,
never: "slow" answers nothing and records when the client hangs up). All waits are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from chatkernel import App, Event, Feature, MountResult, bootstrap

import features.settings as settings_feature

WATCHED = ["SETTINGS_LOADED", "SETTINGS_CHANGED", "SIGNALING_URL_CHANGED", "SIGNALING_URL_TESTED",
           "SETTINGS_SAVE_FAILED", "FEATURE_ERROR"]


class Booted:
    """An app with the settings feature and a recorder of everything the feature said."""

    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    @property
    def actor(self) -> Any:
        return self.app.actors["settings"]

    @property
    def machine(self) -> Any:
        return self.actor.machine

    @property
    def service(self) -> Any:
        return self.app.registry.mount_result("settings").service

    @property
    def state(self) -> list[str]:
        return self.actor.state

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def settle(self, timeout: float = 10.0) -> None:
        """``app.settle()`` does not wait for invoked work (saving, testing), so also wait until
        the settings machine rests with nothing queued."""
        await settle_machine(self.app, self.machine, timeout)


async def settle_machine(app: App, machine: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        quiet = 0
        while quiet < 2:  # twice in a row: nothing queued, nothing running, nothing on the bus
            await app.settle(timeout)
            quiet = quiet + 1 if not machine.busy and not app.bus.pending else 0
            await asyncio.sleep(0.005 if quiet == 0 else 0)
        await app.settle(timeout)


async def boot_settings(state_dir: Path | None = None, **settings: Any) -> Booted:
    events: list[Event] = []
    recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                       on_mount=lambda ctx: MountResult(handler=events.append))
    app = await bootstrap([settings_feature.feature, recorder], state_dir=state_dir,
                          settings={"settings": settings} if settings else None)
    return Booted(app, events)


@pytest.fixture
async def boot() -> AsyncIterator[Callable[..., Awaitable[Booted]]]:
    made: list[Booted] = []

    async def factory(state_dir: Path | None = None, *, settle: bool = True, **settings: Any) -> Booted:
        booted = await boot_settings(state_dir, **settings)
        made.append(booted)
        if settle:
            await booted.settle()
        return booted

    yield factory
    for booted in made:
        await booted.app.shutdown()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback port nobody listens on: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class OddServer:
    """Raw HTTP on loopback; ``url(mode)`` is a base URL whose ``/health`` misbehaves as asked."""

    BODIES: dict[str, tuple[str, str, bytes]] = {
        "ok": ("200 OK", "application/json", json.dumps({"service": "chat-signaling", "version": "9.9"}).encode()),
        "wrong": ("200 OK", "application/json", json.dumps({"service": "web-shop"}).encode()),
        "missing": ("200 OK", "application/json", json.dumps({"status": "fine"}).encode()),
        "array": ("200 OK", "application/json", b"[1, 2]"),
        "html": ("200 OK", "text/html", b"<html>hello</html>"),
        "notfound": ("404 Not Found", "text/plain", b"no such page"),
    }

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.requests: list[str] = []
        self.hung_up: list[str] = []  # slow requests whose client gave up before any answer
        self._tasks: set[asyncio.Task[Any]] = set()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    async def start(self) -> OddServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            self.requests.append(path)
            mode = path.strip("/").split("/")[0]
            if mode == "slow":  # never answer: wait for the client to hang up (bounded)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(60):
                        await reader.read()
                self.hung_up.append(path)
                return
            status, kind, body = self.BODIES.get(mode, self.BODIES["notfound"])
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()


@pytest.fixture
async def odd_server() -> AsyncIterator[OddServer]:
    server = await OddServer().start()
    yield server
    await server.stop()
