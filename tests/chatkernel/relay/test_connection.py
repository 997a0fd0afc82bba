"""The connection layer against raw sockets: header size and time limits, the body deadline,
the connection cap. Each test failed before the layer existed (a 32 MB header block was
answered 200; half-open requests were held forever)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, RelayConfig

pytestmark = pytest.mark.anyio

LIMITS = RelayConfig(
    header_max_bytes=4096, header_timeout=0.5, body_timeout=0.5,
    max_parked_polls=5, max_connections=10,
    rate_per_address=10_000, burst_per_address=10_000,
)
WAIT = 20.0  # generous bound for anything the relay should do within a second


@pytest.fixture(scope="module")
async def guarded(anyio_backend: str) -> AsyncIterator[EmbeddedRelay]:
    async with EmbeddedRelay.start("memory", config=LIMITS) as running:
        yield running


def _connections(relay: EmbeddedRelay) -> int:
    return len(relay._server.server_state.connections)


async def _open(relay: EmbeddedRelay) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(relay.host, relay.port)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], Any]:
    """Read one answer and then the end of the connection (the relay must close it)."""
    async with asyncio.timeout(WAIT):
        raw = await reader.read(-1)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


async def _settle(relay: EmbeddedRelay, expected: int) -> int:
    """Wait (bounded) until the relay holds ``expected`` connections; return what it holds."""
    for _ in range(int(WAIT / 0.05)):
        if _connections(relay) == expected:
            break
        await asyncio.sleep(0.05)
    return _connections(relay)


async def test_a_one_megabyte_header_block_is_refused_431_and_closed(guarded: EmbeddedRelay) -> None:
    reader, writer = await _open(guarded)
    writer.write(b"GET /health HTTP/1.1\r\nHost: relay\r\n")

    async def flood() -> None:
        chunk = b"X-Pad: " + b"a" * 8184 + b"\r\n"
        try:
            for _ in range(128):  # 1 MiB of headers, stopped early by the relay
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    sender = asyncio.ensure_future(flood())
    status, headers, body = await _answer(reader)
    sender.cancel()
    writer.close()
    assert status == 431 and headers["connection"] == "close"
    assert body == {"error": "headers_too_large", "detail": body["detail"], "limit": 4096}


async def test_headers_over_the_limit_in_one_packet_are_refused_too(guarded: EmbeddedRelay) -> None:
    reader, writer = await _open(guarded)
    writer.write(b"GET /health HTTP/1.1\r\nHost: relay\r\nX-Pad: " + b"b" * 5000 + b"\r\n\r\n")
    status, _headers, body = await _answer(reader)
    writer.close()
    assert (status, body["error"]) == (431, "headers_too_large")


async def test_headers_within_the_limit_are_served(guarded: EmbeddedRelay) -> None:
    async with httpx.AsyncClient(base_url=guarded.url) as http:
        r = await http.get("/health", headers={"X-Pad": "c" * 3000})
    assert r.status_code == 200


async def test_two_hundred_half_open_requests_are_answered_408_and_closed(guarded: EmbeddedRelay) -> None:
    before = await _settle(guarded, 0)
    streams = []
    for _ in range(200):
        streams.append(await _open(guarded))
    for _reader, writer in streams:
        writer.write(b"POST /poll HTTP/1.1\r\nHost: relay\r\nContent-Type: app")  # never finished
    answers = await asyncio.gather(*(_answer(reader) for reader, _writer in streams))
    for _reader, writer in streams:
        writer.close()
    assert {(status, body["error"]) for status, _headers, body in answers} == {(408, "request_timeout")}
    assert await _settle(guarded, before) == before


async def test_a_connection_that_sends_nothing_is_closed(guarded: EmbeddedRelay) -> None:
    reader, writer = await _open(guarded)
    async with asyncio.timeout(WAIT):
        assert await reader.read(-1) == b""  # closed without an answer: nobody asked anything
    writer.close()


async def test_a_trickled_body_is_answered_408(guarded: EmbeddedRelay) -> None:
    reader, writer = await _open(guarded)
    writer.write(b"POST /connect HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"userId\":")
    status, headers, body = await _answer(reader)
    writer.close()
    assert (status, body["error"], headers["connection"]) == (408, "request_timeout", "close")


async def test_keep_alive_requests_still_reuse_the_connection(guarded: EmbeddedRelay) -> None:
    async with httpx.AsyncClient(base_url=guarded.url) as http:
        for _ in range(5):
            assert (await http.get("/health")).status_code == 200
        assert (await http.post("/connect", json={})).status_code == 422


async def test_a_request_beyond_the_connection_cap_gets_503(anyio_backend: str) -> None:
    config = LIMITS.replace(header_timeout=30.0)
    async with EmbeddedRelay.start("memory", config=config) as relay:
        idle = [await _open(relay) for _ in range(config.max_connections)]
        assert await _settle(relay, config.max_connections) == config.max_connections
        reader, writer = await _open(relay)
        writer.write(b"GET /health HTTP/1.1\r\nHost: relay\r\n\r\n")
        status, headers, body = await _answer(reader)
        writer.close()
        assert (status, body["error"], headers["retry-after"]) == (503, "too_many_connections", "1")
        for _reader, idle_writer in idle:
            idle_writer.close()
        await _settle(relay, 0)
        async with httpx.AsyncClient(base_url=relay.url) as http:
            assert (await http.get("/health")).status_code == 200


async def test_a_body_that_follows_its_headers_in_time_is_served(guarded: EmbeddedRelay) -> None:
    reader, writer = await _open(guarded)
    writer.write(b"POST /connect HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 2\r\nConnection: close\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)  # a second packet, well within body_timeout
    writer.write(b"{}")
    status, _headers, body = await _answer(reader)
    writer.close()
    assert (status, body["error"]) == (422, "invalid_field")  # served by the app, not timed out
