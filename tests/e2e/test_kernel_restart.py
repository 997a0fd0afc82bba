"""A real Jupyter kernel killed with SIGKILL, mid-conversation, three times: no message sent or
received just before each death is lost, and none is stored or shown twice after the restart.

Alice lives in a kernel started by jupyter_client (the venv's ipykernel, as JupyterLab starts
it), Bob in this test process; both talk through one embedded relay on loopback. Each kernel
boots the app's own feature list and logs in to the same profile with its passphrase.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "kernel restarts lose nothing"
FAST = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}

BOOT = """
import asyncio, importlib, json, os, signal
import features
from chatkernel import bootstrap
app = await bootstrap([importlib.import_module(m).feature for m in features.FEATURES],
                      settings={{"persistence": {{"profiles_dir": {profiles!r}}},
                                "settings": {{"default_signaling_url": {url!r}}},
                                "signaling": {{"url": {url!r}, **{fast!r}}}}})
auth = app.registry.mount_result("auth").service
messaging = app.registry.mount_result("messaging").service
signaling = app.actors["signaling"]

async def until(predicate, timeout=30.0):
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.01)

async def connected():
    return signaling.state == ["connected"] and messaging.stats["relay_prekeys"] is not None

async def received(count):
    return len([r for r in await messaging.history(BOB, limit=1000) if r["direction"] == "in"]) >= count
"""


class Kernel:
    """One ipykernel process and a client; ``run`` executes a cell and returns its stdout."""

    def __init__(self, manager: Any, client: Any):
        self.manager = manager
        self.client = client

    @classmethod
    async def start(cls, tmp: Path) -> Kernel:
        from jupyter_client.manager import AsyncKernelManager

        env = {**os.environ, "IPYTHONDIR": str(tmp / "ipython"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
               "PYTHONPATH": str(ROOT)}
        manager = AsyncKernelManager(kernel_name="python3")
        manager.kernel_spec.argv[0] = sys.executable  # this venv's interpreter, whatever the spec says
        await manager.start_kernel(cwd=str(ROOT), env=env)
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        return cls(manager, client)

    async def run(self, code: str, timeout: float = 60.0) -> str:
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = await self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        assert reply["content"]["status"] == "ok" and not errors, "\n".join(errors) or reply["content"]
        return "".join(out)

    async def run_until_killed(self, code: str, timeout: float = 60.0) -> None:
        """Run a cell that ends with the kernel killing itself (SIGKILL); wait until it is dead."""
        self.client.execute(code)
        async with asyncio.timeout(timeout):
            while await self.manager.is_alive():
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.client.stop_channels()
        if await self.manager.is_alive():
            await self.manager.shutdown_kernel(now=True)
        await self.manager.cleanup_resources()


@pytest.fixture
async def bob(tmp_path, relay):
    import features
    from chatkernel import bootstrap

    app = await bootstrap([importlib.import_module(m).feature for m in features.FEATURES],
                          settings={"persistence": {"profiles_dir": str(tmp_path / "bob")},
                                    "settings": {"default_signaling_url": relay.url},
                                    "signaling": {"url": relay.url, **FAST}})
    await app.registry.mount_result("auth").service.sign_up("bob", "Bob", "bob's own passphrase")
    yield app
    await app.shutdown()


async def _bob_history(bob: Any, peer: str) -> list[str]:
    return [r["body"] for r in await bob.registry.mount_result("messaging").service.history(peer, limit=1000)
            if r["direction"] == "in"]


async def test_messages_survive_a_killed_kernel(tmp_path, relay, bob):
    if shutil.which("true") is None:  # pragma: no cover - every Linux has it; keeps the test honest about POSIX
        pytest.skip("needs a POSIX system")
    bob_messaging = bob.registry.mount_result("messaging").service
    bob_id = bob.registry.mount_result("identity").service.user_id
    boot = f"BOB = {bob_id!r}\n" + BOOT.format(profiles=str(tmp_path / "alice"), url=relay.url, fast=FAST)

    # Kernel 1: sign up, hear Bob's first message, answer, and die right after the send returns
    # (the relay may or may not have the answer yet).
    kernel = await Kernel.start(tmp_path)
    try:
        alice_id = json.loads(await kernel.run(
            boot + f"await auth.sign_up('alice', 'Alice', {PASSPHRASE!r})\nawait until(connected)\n"
            "print(json.dumps(app.registry.mount_result('identity').service.user_id))"))
        await bob_messaging.send(alice_id, "hello alice")
        await kernel.run("await until(lambda: received(1))")
        await kernel.run_until_killed("await messaging.send(BOB, 'a1: sent as the kernel died')\n"
                                      "os.kill(os.getpid(), signal.SIGKILL)")
    finally:
        await kernel.close()

    # Kernel 2: log in again; while offline, a message is sealed and stored; then it dies.
    kernel = await Kernel.start(tmp_path)
    try:
        await kernel.run(boot + f"await auth.log_in('alice', {PASSPHRASE!r})\nawait until(connected)")
        await kernel.run_until_killed(
            "signaling.send('DISCONNECT')\n"
            "async def offline():\n    return signaling.state == ['disconnected']\n"
            "await until(offline)\n"
            "await messaging.send(BOB, 'a2: stored while offline')\n"
            "os.kill(os.getpid(), signal.SIGKILL)")
    finally:
        await kernel.close()

    # Kernel 3: log in; Bob sends 30 messages; the kernel dies in the middle of receiving them.
    kernel = await Kernel.start(tmp_path)
    try:
        await kernel.run(boot + f"await auth.log_in('alice', {PASSPHRASE!r})\nawait until(connected)")
        sending = asyncio.ensure_future(_send_many(bob_messaging, alice_id, 30))
        await kernel.run_until_killed("await until(lambda: received(11))\nos.kill(os.getpid(), signal.SIGKILL)")
        await sending
    finally:
        await kernel.close()

    # Kernel 4: everything is there exactly once, in order, on both sides.
    kernel = await Kernel.start(tmp_path)
    try:
        await kernel.run(boot + f"await auth.log_in('alice', {PASSPHRASE!r})\nawait until(connected)\n"
                         "await until(lambda: received(31))")
        await asyncio.sleep(0.5)  # anything delivered twice would be stored by now
        history = json.loads(await kernel.run(
            "print(json.dumps([(r['direction'], r['body'], r['status']) "
            "for r in await messaging.history(BOB, limit=1000)]))"))
    finally:
        await kernel.close()
    received = [body for direction, body, _ in history if direction == "in"]
    sent = [(body, status) for direction, body, status in history if direction == "out"]
    assert received == ["hello alice", *(f"b{n}" for n in range(30))]
    assert sent == [("a1: sent as the kernel died", "sent"), ("a2: stored while offline", "sent")]
    async with asyncio.timeout(20):
        while len(await _bob_history(bob, alice_id)) < 2:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    assert await _bob_history(bob, alice_id) == ["a1: sent as the kernel died", "a2: stored while offline"]


async def _send_many(messaging: Any, peer: str, count: int) -> None:
    for n in range(count):
        await messaging.send(peer, f"b{n}")
        await asyncio.sleep(0.01)
