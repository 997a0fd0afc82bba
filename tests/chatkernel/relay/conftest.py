"""Fixtures for the relay tests: real uvicorn servers on loopback, a real redis-server.

Helpers are handed out as fixtures (not imported) because pytest runs with
``--import-mode=importlib``, where test modules cannot import each other.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import EmbeddedRelay, MailboxStore, RelayConfig, connect_request, open_store
from chatkernel.relay.protocol import b64url_encode, signed_prekey

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Identities and clients ------------------------------------------------------------------
class Identity:
    """A user's two key pairs, as the identity feature will hold them."""

    def __init__(self) -> None:
        self.signing = Ed25519PrivateKey.generate()
        self.exchange = X25519PrivateKey.generate()
        self.user_id: str = connect_request(self.signing, self.exchange.public_key(), now_ms=0)["userId"]

    def connect_body(self, now_ms: int | None = None) -> dict[str, Any]:
        return connect_request(self.signing, self.exchange.public_key(), now_ms=now_ms)


_last_ts = 0


def _fresh_ts() -> int:
    """Signatures are deterministic, so two connects in one millisecond would be a replay."""
    global _last_ts
    _last_ts = max(_last_ts + 1, time.time_ns() // 1_000_000)
    return _last_ts


class Client:
    """One user talking to a relay over real HTTP."""

    def __init__(self, http: httpx.AsyncClient, identity: Identity | None = None):
        self.http = http
        self.identity = identity or Identity()
        self.token: str | None = None

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def connect(self) -> str:
        r = await self.http.post("/connect", json=self.identity.connect_body(_fresh_ts()))
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        return self.token

    async def send(self, to: str, msg_id: str, payload: Any = "ciphertext", **extra: Any) -> httpx.Response:
        body = {"from": self.user_id, "to": to, "id": msg_id, "payload": payload, **extra}
        return await self.http.post("/send", json=body, headers=self.auth)

    async def poll(self, since: str | None = None, timeout: float = 0, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"userId": self.user_id, "timeout": timeout, **extra}
        if since is not None:
            body["since"] = since
        return await self.http.post("/poll", json=body, headers=self.auth, timeout=timeout + 10)

    async def disconnect(self) -> httpx.Response:
        return await self.http.post("/disconnect", json={"userId": self.user_id}, headers=self.auth)

    # The key directory.
    def signed_prekey(self, prekey_id: int = 1) -> dict[str, Any]:
        return signed_prekey(self.identity.signing, prekey_id, X25519PrivateKey.generate().public_key())

    @staticmethod
    def one_time_prekeys(first: int, count: int) -> list[dict[str, Any]]:
        return [{"id": i, "key": b64url_encode(X25519PrivateKey.generate().public_key().public_bytes_raw())}
                for i in range(first, first + count)]

    async def upload_keys(self, signed: dict[str, Any] | None = None, one_time: list[Any] | None = None,
                          **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"userId": self.user_id, **extra}
        if signed is not None:
            body["signedPrekey"] = signed
        if one_time is not None:
            body["oneTimePrekeys"] = one_time
        return await self.http.post("/keys", json=body, headers=self.auth)

    async def fetch_keys(self, user_id: str) -> httpx.Response:
        return await self.http.get(f"/keys/{user_id}", headers=self.auth)


@pytest.fixture
def new_identity() -> type[Identity]:
    return Identity


@pytest.fixture
def client_for() -> type[Client]:
    return Client


# Relays ----------------------------------------------------------------------------------
TEST_CONFIG = RelayConfig(rate_per_address=10_000, burst_per_address=10_000, rate_per_user=1000, burst_per_user=1000)


@pytest.fixture
def test_config() -> RelayConfig:
    return TEST_CONFIG


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope (the root conftest's is per test) so one relay can serve a whole module:
    every test brings its own fresh identities, and a uvicorn start/stop costs ~0.2 s."""
    return "asyncio"


@pytest.fixture(scope="module")
async def relay(anyio_backend: str) -> AsyncIterator[EmbeddedRelay]:
    async with EmbeddedRelay.start("memory", config=TEST_CONFIG) as running:
        yield running


@pytest.fixture
async def http(relay: EmbeddedRelay) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=relay.url, timeout=10) as client:
        yield client


@pytest.fixture
async def alice(http: httpx.AsyncClient) -> Client:
    client = Client(http)
    await client.connect()
    return client


@pytest.fixture
async def bob(http: httpx.AsyncClient) -> Client:
    client = Client(http)
    await client.connect()
    return client


# Redis -----------------------------------------------------------------------------------
class RedisProcess:
    """A private redis-server on a free loopback port, with no persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
        )
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed (apt-get install redis-server)")
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        for _attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--protected-mode", "yes", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._answers(deadline=time.monotonic() + 10):
                self.url = f"redis://127.0.0.1:{self.port}/0"
                return
            self.stop()
        pytest.fail("could not start redis-server")

    def _answers(self, deadline: float) -> bool:
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A private redis-server on a free loopback port for the whole session."""
    server = RedisProcess()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server of this test's own, which it may stop (to see the relay without it)."""
    server = RedisProcess()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis with a key prefix of this test's own."""
    return f"{redis_server}?prefix=t{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: the one conformance suite runs against all of them."""
    kind = request.param
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite:{tmp_path / 'relay.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def store(store_spec: str, anyio_backend: str) -> AsyncIterator[MailboxStore]:
    opened = open_store(store_spec)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


# Subprocess relays -----------------------------------------------------------------------
class RelayProcess:
    """``python -m chatkernel.relay`` in a subprocess, output captured to a file."""

    def __init__(self, tmp_path: Path, name: str, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"{name}.log"
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatkernel.relay", "--port", str(self.port), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"relay did not start: {self.output()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()
        return int(self.proc.returncode)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[Any]:
    started: list[RelayProcess] = []

    def start(name: str, *args: str) -> RelayProcess:
        proc = RelayProcess(tmp_path, name, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
