"""A search of the raw database files and of the relay's storage (all three stores) finds no
plaintext, no private key and no passphrase.

Alice and Bob boot the whole stack (persistence, identity, auth, crypto, signaling, messaging),
sign up through auth with real passphrases (Argon2id made cheap, as the auth tests do), exchange
messages both ways, make a group (its name a marker too) and send in it, and leave one undelivered in Bob's mailbox (his signaling disconnected). Then:

* every file under each profile directory (the SQLCipher database, its -wal and -shm, the
  keycheck sidecar, ``auth.json``: all of them, raw bytes), while the apps run and again after
  they shut down, holds none of the plaintexts (UTF-8), the passphrases, the identity private
  keys (raw, hex, base64url, base64) nor SQLite's plain header ``SQLite format 3``;
* the relay's storage holds none of them either: the memory store's in-process structures (all
  strings and bytes reachable from the store object), the SQLite relay's files (main, -wal,
  -shm), Redis's logical contents (every key, read by type) and its data files (RDB after SAVE,
  AOF, both uncompressed), while the positive controls (Alice's user id, the undelivered
  envelope) are found in each of them, so no search passes by searching nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatkernel import Event, Feature, MountResult, bootstrap

import features.auth
import features.crypto
import features.identity
import features.messaging
import features.persistence
import features.signaling

FAST_SIGNALING = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}
CHEAP_KDF = {"argon2_memory_kib": 64, "argon2_iterations": 1, "argon2_lanes": 1}  # as tests/features/auth
WATCHED = ["FEATURE_ERROR", "SECURE_MESSAGE_RECEIVED", "SECURE_MESSAGE_SENT", "PREKEYS_PUBLISHED",
           "UNREADABLE_MESSAGE", "SIGNALING_CONNECTED", "GROUP_CHANGED"]
SQLITE_HEADER = b"SQLite format 3"

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------------- redis-server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Redis:
    """A private redis-server on loopback whose data files land in ``directory``, uncompressed
    (``rdbcompression no``, an AOF without an RDB preamble), so a raw search can read them."""

    def __init__(self, directory: Path):
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server"
                                                  if os.path.exists("/usr/bin/redis-server") else None)
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed (apt-get install redis-server)")
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
             "--dir", str(directory), "--dbfilename", "dump.rdb", "--save", "", "--rdbcompression", "no",
             "--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--appendfsync", "always",
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        self.url = f"redis://127.0.0.1:{self.port}/0"
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("could not start redis-server")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[_Redis]:
    server = _Redis(tmp_path / "redis-data")
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------- people
class Person:
    def __init__(self, app: Any, events: list[Event], passphrase: str):
        self.app = app
        self.events = events
        self.passphrase = passphrase

    def service(self, feature: str) -> Any:
        return self.app.registry.mount_result(feature).service

    @property
    def user_id(self) -> str:
        return str(self.service("identity").user_id)

    @property
    def directory(self) -> Path:
        return Path(self.service("persistence").path).parent

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)


async def _boot(profiles: Path, relay_url: str, passphrase: str, profile: str, name: str) -> Person:
    events: list[Event] = []
    recorder = Feature(id="recorder", name="Recorder", subscribed_events=WATCHED,
                       on_mount=lambda ctx: MountResult(handler=events.append))
    app = await bootstrap(
        [features.persistence.feature, features.identity.feature, features.auth.feature, features.crypto.feature,
         features.signaling.feature, features.messaging.feature, recorder],
        settings={"persistence": {"profiles_dir": str(profiles), "busy_timeout_s": 0.05},
                  "auth": CHEAP_KDF, "signaling": {"url": relay_url, **FAST_SIGNALING}})
    person = Person(app, events, passphrase)
    await person.service("auth").sign_up(profile, name, passphrase)
    return person


def _marker(label: str) -> str:
    return f"plaintext-marker-{label}-{os.urandom(8).hex()}"


class Secrets:
    """What must never be found, each in the forms a leak could take."""

    def __init__(self, plaintexts: list[str], people: list[Person]):
        self.needles: dict[str, bytes] = {}
        for i, text in enumerate(plaintexts):
            self.needles[f"plaintext {i}"] = text.encode("utf-8")
        for person in people:
            who = person.user_id[:12]
            self.needles[f"passphrase of {who}"] = person.passphrase.encode("utf-8")
            for kind, key in zip(("Ed25519 seed", "X25519 private key"), person.service("identity").private_keys(),
                                 strict=True):
                assert isinstance(key, bytes) and len(key) == 32
                self.needles[f"{kind} of {who} (raw)"] = key
                self.needles[f"{kind} of {who} (hex)"] = key.hex().encode()
                self.needles[f"{kind} of {who} (HEX)"] = key.hex().upper().encode()
                self.needles[f"{kind} of {who} (base64url)"] = base64.urlsafe_b64encode(key).rstrip(b"=")
                self.needles[f"{kind} of {who} (base64)"] = base64.b64encode(key).rstrip(b"=")

    def found_in(self, haystack: bytes) -> list[str]:
        return [name for name, needle in self.needles.items() if needle in haystack]


def _files(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory``, raw."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _walk(obj: Any, out: list[bytes], seen: set[int], depth: int = 0) -> None:
    """Every str and bytes reachable from ``obj`` (containers, attributes, slots), bounded."""
    if depth > 12 or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        out.append(obj.encode("utf-8", "surrogatepass"))
        return
    if isinstance(obj, (bytes, bytearray, memoryview)):
        out.append(bytes(obj))
        return
    if isinstance(obj, (int, float, bool, type(None))) or callable(obj) and not hasattr(obj, "__dict__"):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            _walk(key, out, seen, depth + 1)
            _walk(value, out, seen, depth + 1)
        return
    if isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
        for item in obj:
            _walk(item, out, seen, depth + 1)
        return
    if isinstance(obj, (asyncio.AbstractEventLoop, asyncio.Future)):
        return
    for name in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, name):
            _walk(getattr(obj, name), out, seen, depth + 1)
    if hasattr(obj, "__dict__"):
        _walk(vars(obj), out, seen, depth + 1)


# --------------------------------------------------------------------------------- the scenario
@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    from chatkernel.relay import EmbeddedRelay

    kind = request.param
    redis: _Redis | None = None
    relay_dir = tmp_path / "relay"
    relay_dir.mkdir()
    if kind == "memory":
        spec = "memory"
    elif kind == "sqlite":
        spec = f"sqlite:{relay_dir / 'relay.db'}"
    else:
        redis = request.getfixturevalue("redis_server")
        spec = f"{redis.url}?prefix=nopt:"
    relay = await EmbeddedRelay.start(store=spec)
    people: list[Person] = []
    try:
        profiles = tmp_path / "profiles"
        alice = await _boot(profiles, relay.url, f"alice passphrase {os.urandom(6).hex()}", "alice", "Alice")
        people.append(alice)
        bob = await _boot(profiles, relay.url, f"bob passphrase {os.urandom(6).hex()}", "bob", "Bob")
        people.append(bob)
        for person in people:
            await person.wait_for(lambda p=person: p.app.actors["signaling"].state == ["connected"]
                                  and bool(p.of("PREKEYS_PUBLISHED")))
        yield {"kind": kind, "relay": relay, "redis": redis, "relay_dir": relay_dir, "alice": alice, "bob": bob,
               "people": people}
    finally:
        for person in people:
            await person.app.shutdown()
        await relay.stop()


async def _converse(alice: Person, bob: Person) -> tuple[list[str], str]:
    """Messages both ways, then one left in Bob's mailbox; (every plaintext, the undelivered one's id)."""
    texts: list[str] = []
    for sender, recipient, label in ((alice, bob, "a1"), (bob, alice, "b1"), (alice, bob, "a2"), (bob, alice, "b2")):
        text = _marker(label)
        texts.append(text)
        message_id = await sender.service("messaging").send(recipient.user_id, text)
        await recipient.wait_for(lambda r=recipient, m=message_id: any(
            e["id"] == m for e in r.of("SECURE_MESSAGE_RECEIVED")))
    history = await bob.service("messaging").history(alice.user_id)
    assert [row["body"] for row in history] == texts  # the markers really went through, both ways
    # a group: its name travels only inside the pairwise sessions, its messages under the sender key
    name, said = _marker("group-name"), _marker("g1")
    texts += [name, said]
    group = await alice.service("messaging").create_group(name, [bob.user_id])
    await bob.wait_for(lambda: any(e["group"] == group for e in bob.of("GROUP_CHANGED")))
    message_id = await alice.service("messaging").send(group, said)
    await bob.wait_for(lambda: any(e["id"] == message_id for e in bob.of("SECURE_MESSAGE_RECEIVED")))
    assert (await bob.service("messaging").group(group))["name"] == name

    bob.app.actors["signaling"].send("DISCONNECT")
    await bob.wait_for(lambda: bob.app.actors["signaling"].state != ["connected"])
    await asyncio.sleep(0.1)  # let a poll that was parked be answered and not resumed
    pending = _marker("undelivered")
    texts.append(pending)
    message_id = await alice.service("messaging").send(bob.user_id, pending)
    await alice.wait_for(lambda: any(e["id"] == message_id for e in alice.of("SECURE_MESSAGE_SENT")))
    assert not any(e["id"] == message_id for e in bob.of("SECURE_MESSAGE_RECEIVED"))
    errors = alice.of("FEATURE_ERROR") + bob.of("FEATURE_ERROR")
    assert not errors, errors
    return texts, message_id


async def _relay_haystacks(world: dict[str, Any]) -> dict[str, bytes]:
    """The relay's storage, by where it was read."""
    kind, relay = world["kind"], world["relay"]
    if kind == "memory":
        strings: list[bytes] = []
        _walk(relay.store, strings, set())
        assert strings, "the walk of the memory store found nothing"
        return {"memory store (every reachable str/bytes)": b"\n".join(strings)}
    if kind == "sqlite":
        files = _files(world["relay_dir"])
        assert "relay.db" in files
        return {f"sqlite relay file {name}": data for name, data in files.items()}
    import redis.asyncio as redis_py

    server: _Redis = world["redis"]
    client = redis_py.Redis(host="127.0.0.1", port=server.port)
    try:
        dump: list[bytes] = []
        async for key in client.scan_iter(count=1000):
            dump.append(key)
            kind_of = (await client.type(key)).decode()
            if kind_of == "none":  # expired since the scan (a rate-limit bucket, a token)
                continue
            if kind_of == "string":
                dump.append(await client.get(key) or b"")
            elif kind_of == "stream":
                for entry_id, fields in await client.xrange(key):
                    dump.append(entry_id)
                    for field, value in fields.items():
                        dump += [field, value]
            elif kind_of == "hash":
                for field, value in (await client.hgetall(key)).items():
                    dump += [field, value]
            elif kind_of == "list":
                dump += await client.lrange(key, 0, -1)
            elif kind_of == "set":
                dump += list(await client.smembers(key))
            elif kind_of == "zset":
                dump += [member for member, _score in await client.zrange(key, 0, -1, withscores=True)]
            else:
                raise AssertionError(f"unexpected Redis type {kind_of} for {key!r}")
            dump.append(await client.dump(key) or b"")
        await client.save()
    finally:
        await client.aclose()
    found = {"redis keys and values (SCAN + read by type + DUMP)": b"\n".join(dump)}
    files = _files(server.directory)
    assert "dump.rdb" in files and any("aof" in name for name in files), sorted(files)
    found.update({f"redis data file {name}": data for name, data in files.items()})
    return found


async def test_no_plaintext_private_key_or_passphrase_at_rest(world: dict[str, Any]) -> None:
    alice, bob, relay = world["alice"], world["bob"], world["relay"]
    texts, _pending_id = await _converse(alice, bob)
    secrets = Secrets(texts, world["people"])
    # The needles are the right bytes: each marker is found in what Bob's history reads back.
    messaging = bob.service("messaging")
    group = (await messaging.groups())[0]
    bodies = [row["body"] for row in await messaging.history(alice.user_id)]
    bodies += [group["name"]] + [row["body"] for row in await messaging.history(group["group"])]
    assert len(secrets.found_in("\n".join(bodies).encode())) == len(texts) - 1  # all but the undelivered one

    # The positive control: the undelivered message is in Bob's mailbox, as the relay keeps it.
    stored = await relay.store.read(bob.user_id, None, limit=1000, max_bytes=10_000_000)
    assert stored, "the undelivered message is not in the relay's store"
    envelope = stored[-1].payload
    assert stored[-1].sender == alice.user_id and '"envelope"' in envelope
    envelope_b64 = json.loads(envelope)["envelope"].encode()
    assert len(envelope_b64) > 100
    for event in stored:  # what the store API hands out: only envelopes
        assert not secrets.found_in(event.payload.encode()), event

    # The relay's storage: no secret, but the envelope and Alice's id, in every place read.
    haystacks = await _relay_haystacks(world)
    envelope_seen = False
    for where, data in haystacks.items():
        assert not secrets.found_in(data), f"{where}: {secrets.found_in(data)}"
        envelope_seen = envelope_seen or envelope_b64 in data
        if world["kind"] == "redis" and where.startswith("redis data file") and where.endswith(".rdb"):
            assert envelope_b64 in data, f"{where}: the envelope is not in the RDB file (compressed?)"
    assert envelope_seen, "the envelope was found nowhere: the search read nothing useful"
    assert any(alice.user_id.encode() in data for data in haystacks.values())
    if world["kind"] == "sqlite":
        assert any(SQLITE_HEADER in data for data in haystacks.values())  # the relay's own file is plain SQLite

    # The profile directories, raw, while the apps run (the -wal and -shm exist) and after shutdown.
    directories = [person.directory for person in world["people"]]
    for directory in directories:
        files = _files(directory)
        assert "chat.db" in files and any(name.endswith(".keycheck") for name in files), sorted(files)
        assert "auth.json" in files, sorted(files)
        assert "chat.db-wal" in files, sorted(files)  # searched while the write-ahead log holds recent pages
        for name, data in files.items():
            assert SQLITE_HEADER not in data, f"{directory.name}/{name} holds a plain SQLite header"
            assert not secrets.found_in(data), f"{directory.name}/{name}: {secrets.found_in(data)}"
    for person in world["people"]:
        await person.app.shutdown()
    world["people"].clear()
    for directory in directories:
        files = _files(directory)
        assert files["chat.db"], "the database file is empty"
        for name, data in files.items():
            assert SQLITE_HEADER not in data, f"{directory.name}/{name} holds a plain SQLite header (after shutdown)"
            assert not secrets.found_in(data), f"{directory.name}/{name} (after shutdown): {secrets.found_in(data)}"
    # The search would find a secret if it were there: the markers are in the needle list, and
    # the envelope (the needle of the positive control) was found above by the same search.
    assert len(secrets.needles) == len(texts) + 2 * (1 + 2 * 5)
