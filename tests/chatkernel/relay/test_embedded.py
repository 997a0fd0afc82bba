"""The embedded relay: one call to start on a free loopback port, one to stop, on the
caller's loop or (for synchronous code) on a background thread."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, MemoryStore, RelayError

pytestmark = pytest.mark.anyio


async def test_start_serves_on_loopback_and_stop_frees_the_port() -> None:
    relay = await EmbeddedRelay.start()
    try:
        assert relay.url.startswith("http://127.0.0.1:") and relay.port > 0
        assert repr(relay).endswith("running>")
        async with httpx.AsyncClient() as http:
            assert (await http.get(relay.url + "/health")).status_code == 200
    finally:
        await relay.stop()
    await relay.stop()  # idempotent
    assert "stopped" in repr(relay)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(relay.url + "/health")


async def test_runs_on_the_current_loop_without_threads() -> None:
    before = threading.active_count()
    async with EmbeddedRelay.start() as relay:
        assert relay._task.get_loop() is asyncio.get_running_loop()
        assert threading.active_count() == before


async def test_stop_answers_parked_polls_promptly(client_for) -> None:
    relay = await EmbeddedRelay.start()
    async with httpx.AsyncClient(base_url=relay.url) as http:
        bob = client_for(http)
        await bob.connect()
        poll = asyncio.ensure_future(bob.poll(timeout=25))
        while relay.service.parked == 0:
            await asyncio.sleep(0.01)
        # Bounded well below the poll's own 25 s: stop must answer it, not wait it out.
        async with asyncio.timeout(10):
            await relay.stop()
            r = await poll
        assert r.status_code == 200 and r.json() == []
        assert relay.service.parked == 0


async def test_starts_leave_logging_alone() -> None:
    root_handlers = list(logging.getLogger().handlers)
    uvicorn_handlers = list(logging.getLogger("uvicorn").handlers)
    async with EmbeddedRelay.start():
        pass
    assert logging.getLogger().handlers == root_handlers
    assert logging.getLogger("uvicorn").handlers == uvicorn_handlers


async def test_store_instance_is_left_open_for_its_owner() -> None:
    store = MemoryStore()
    async with EmbeddedRelay.start(store) as relay:
        assert relay.store is store
    assert await store.length("b" * 32) == 0  # still usable


async def test_port_in_use_raises() -> None:
    async with EmbeddedRelay.start() as relay:
        with pytest.raises(OSError):
            await EmbeddedRelay.start(port=relay.port)


async def test_bad_store_spec_raises_relay_error() -> None:
    with pytest.raises(RelayError):
        await EmbeddedRelay.start("mongodb://nope")


def test_background_variant_for_synchronous_code(new_identity) -> None:
    with EmbeddedRelay.start_background() as relay:
        assert relay._thread is not None and relay._thread.is_alive()
        r = httpx.post(relay.url + "/connect", json=new_identity().connect_body())
        assert r.status_code == 200
    assert not relay._thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(relay.url + "/health")


async def test_close_is_only_for_background_relays() -> None:
    async with EmbeddedRelay.start() as relay:
        with pytest.raises(RuntimeError):
            relay.close()


async def test_background_relay_can_be_stopped_from_another_loop() -> None:
    relay = EmbeddedRelay.start_background()
    await relay.stop()
    relay.close()  # joins the thread; nothing left to stop
    assert relay._thread is not None and not relay._thread.is_alive()
