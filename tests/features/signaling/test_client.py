import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from features.signaling.client import MAX_ANSWER_BYTES, RelayClient, check_url
from features.signaling.errors import InsecureURLError, InvalidURLError, RelayRequestError, RelayTransportError


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "http://localhost:1/", "http://[::1]:80",
                                 "https://relay.example.org", "http://127.5.6.7"])
def test_acceptable_urls(url):
    assert check_url(url) == url.rstrip("/")


def test_plain_http_to_a_remote_host_needs_explicit_permission():
    with pytest.raises(InsecureURLError, match="non-loopback"):
        check_url("http://relay.example.org")
    assert check_url("http://relay.example.org", allow_insecure=True) == "http://relay.example.org"


@pytest.mark.parametrize("url, reason", [
    ("", "is empty"), ("  ", "is empty"), (None, "must be a string, got NoneType"), ("ftp://x", "scheme"),
    ("http://", "no host"), ("https://u:p@x.org", "credentials"), ("https://x.org/?a=1", "query"),
    ("http://h/?", "query"), ("http://127.0.0.1/?", "query"), ("http://h/#", "fragment"),
    ("http://127.0.0.1:99999", "out of range"), ("https://relay example.org", "whitespace"),
])
def test_invalid_urls_say_why(url, reason):
    with pytest.raises(InvalidURLError, match=reason) as info:
        check_url(url)
    assert reason in info.value.reason


@pytest.mark.parametrize("url", ["http://h/?", "http://h/#", "https://u:p@x.org"])
def test_permission_for_plain_http_does_not_excuse_a_malformed_url(url):
    with pytest.raises(InvalidURLError):
        check_url(url, allow_insecure=True)


# --- the HTTP client against hostile or absent servers on loopback --------------------------------

async def _serve(answer: bytes, *, close_after_headers: bool = False):
    """A raw HTTP server on loopback that answers every request with ``answer``, as bytes."""
    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            if close_after_headers:
                writer.close()
                return
            await asyncio.sleep(5)  # a stream that never ends, for the size check to stop
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.anyio
async def test_an_answer_larger_than_the_bound_is_refused_unread():
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {MAX_ANSWER_BYTES + 1}\r\n\r\n"
    server, url = await _serve(head.encode())
    client = RelayClient(url)
    try:
        with pytest.raises(RelayRequestError, match="more than the") as info:
            await client.health()
        assert info.value.status == 502 and info.value.code == "bad_response"
    finally:
        await client.aclose()
        server.close()


@pytest.mark.anyio
async def test_a_stream_without_length_is_cut_at_the_bound():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_ANSWER_BYTES // len(chunk) + 2))
    server, url = await _serve(head + body)
    client = RelayClient(url)
    try:
        with pytest.raises(RelayRequestError, match="more than the"):
            await client.health()
    finally:
        await client.aclose()
        server.close()


@pytest.mark.anyio
async def test_an_answer_that_is_not_json_is_a_bad_response():
    server, url = await _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", close_after_headers=True)
    client = RelayClient(url)
    try:
        with pytest.raises(RelayRequestError, match="GET /health answered 200 without JSON") as info:
            await client.health()
        assert info.value.code == "bad_response"
    finally:
        await client.aclose()
        server.close()


@pytest.mark.anyio
async def test_a_refused_connection_is_known_not_to_have_been_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        client = RelayClient(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(RelayTransportError, match="GET /health: no answer from the relay") as info:
                await client.health()
            assert info.value.sent is False
        finally:
            await client.aclose()


@pytest.mark.anyio
async def test_a_connection_closed_mid_answer_may_have_been_sent():
    server, url = await _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", close_after_headers=True)
    client = RelayClient(url)
    try:
        with pytest.raises(RelayTransportError) as info:
            await client.health()
        assert info.value.sent is True
    finally:
        await client.aclose()
        server.close()


@pytest.mark.anyio
async def test_a_closed_client_makes_no_new_connection():
    server, url = await _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", close_after_headers=True)
    client = RelayClient(url)
    assert await client.health() == {}
    await client.aclose()
    with pytest.raises(RelayTransportError, match="the client was closed") as info:
        await client.health()
    assert info.value.sent is False and client._session is None
    server.close()


def test_importing_the_feature_loads_no_http_client_and_the_client_only_aiohttp():
    code = ("import sys, features.signaling; "
            "print([m for m in ('aiohttp', 'httpx') if m in sys.modules]); "
            "import features.signaling.client; "
            "print([m for m in ('aiohttp', 'httpx') if m in sys.modules])")
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "['aiohttp']"]
