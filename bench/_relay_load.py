"""Helpers for ``bench_relay.py``: processes, /proc readings, a raw HTTP client and the workers.

The relay (``python -m chatkernel.relay``), redis-server and the load generators each run in
their own process, so the relay's figures are not flattered or hurt by a client sharing its
event loop. This module is also the workers' entry point::

    python bench/_relay_load.py ROLE '{"json": "args"}'

A worker sets up (connects users, boots apps), prints ``READY {...}``, waits for one line on
stdin (``GO ...``), runs a load bounded in count and time, and prints ``RESULT {...}``. Every
other output goes to stderr. Everything listens and connects on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"
WORKER_SCRIPT = Path(__file__).resolve()
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Rate limits far above anything a benchmark sends: the benchmarks measure the relay, not its limiter.
RAISED_LIMITS = (
    "--rate-per-user", "1e7", "--burst-per-user", "1e7",
    "--rate-per-address", "1e8", "--burst-per-address", "1e8",
)

# Pacing of the end-to-end latency benchmark: a sender waits for its message to arrive, then
# pauses this long (uniform, seconds) before the next one. The slow pace is a diagnostic: the
# same 20 pairs at a chat-like rate, so the 2-core machine is not saturated by the clients.
PACE_S = (0.010, 0.030)
SLOW_PACE_S = (0.100, 0.300)


# ----------------------------------------------------------------------------------- /proc
def run_terminable(main: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(main())`` where SIGTERM unwinds like Ctrl-C, so every child process a
    benchmark started is stopped on the way out; the process then exits 128 + SIGTERM."""
    terminated: list[bool] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_sigterm() -> None:
            terminated.append(True)
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
            handling = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            handling = False
        try:
            return await main()
        finally:
            if handling:
                loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if terminated:
            raise SystemExit(128 + signal.SIGTERM) from None
        raise


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the ")": state is field 3, so utime (14) and stime (15) are at index 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, all processes, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
    return count


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------- processes
def orphan_guard() -> list[str]:
    """A prefix that makes a child receive SIGTERM if this process dies without cleaning up
    (killed outright): util-linux ``setpriv --pdeathsig``, where installed."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Terminate, then kill if it does not exit within ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_port(proc: subprocess.Popen[Any], port: int, seconds: float, probe: bytes | None, log: Path) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as sock:
                if probe is None:
                    return
                sock.sendall(probe)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port} within {seconds:.0f} s: {log.read_text()[-2000:]}")


def others_cores(before: tuple[float, float], after: tuple[float, float], wall: float, ours: float) -> float:
    """Cores that everything else on the machine used meanwhile (other processes, the kernel's
    own work, and the hypervisor's steal): a run that shares the machine is slower for it."""
    busy = (after[0] - before[0]) / wall
    steal = (after[1] - before[1]) / wall
    return max(0.0, busy - ours) + steal


async def go_and_measure(started: list[Any], relay_pid: int, timeout: float) -> dict[str, Any]:
    """Tell every started worker GO, collect each one's RESULT (``timeout`` each) and measure the
    run: ``{results, wall, relay_util, utils, others}`` (utils: each worker's share of a core)."""
    relay_cpu0, machine0, t0 = cpu_seconds(relay_pid), machine_cpu(), time.monotonic()
    for w in started:
        w.tell("GO")
    results = [await w.expect("RESULT", timeout) for w in started]
    wall = time.monotonic() - t0
    relay_util = (cpu_seconds(relay_pid) - relay_cpu0) / wall
    machine1 = machine_cpu()
    utils = [r["cpu"] / r["wall"] for r in results]
    return {"results": results, "wall": wall, "relay_util": relay_util, "utils": utils,
            "others": others_cores(machine0, machine1, wall, sum(utils) + relay_util)}


class Managed:
    """A child process (relay or redis-server) with its log file; stopped on exit, even on errors."""

    def __init__(self, argv: list[str], port: int, log: Path, probe: bytes | None):
        self.port = port
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen([*orphan_guard(), *argv], stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT)
        try:
            _wait_port(self.proc, port, 20.0, probe, log)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)
        self._log_file.close()


@contextlib.contextmanager
def relay_process(store: str = "memory", *extra: str, workdir: Path, profile: Path | None = None
                  ) -> Iterator[Managed]:
    """``python -m chatkernel.relay`` on a free loopback port, rate limits raised, access log off.

    With ``profile``, the same CLI runs under cProfile and dumps its stats there when stopped.
    """
    port = free_port()
    cli = ["--host", HOST, "--port", str(port), "--store", store, "--log-level", "warning", *RAISED_LIMITS, *extra]
    if profile is None:
        argv = [sys.executable, "-m", "chatkernel.relay", *cli]
    else:
        argv = [sys.executable, str(WORKER_SCRIPT), "profile-relay", json.dumps({"out": str(profile), "argv": cli})]
    relay = Managed(argv, port, workdir / f"relay-{port}.log",
                    probe=b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    try:
        yield relay
    finally:
        relay.stop()


@contextlib.contextmanager
def redis_process(workdir: Path) -> Iterator[Managed | None]:
    """A throwaway redis-server on a free loopback port, no persistence; None if not installed."""
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                              else None)
    if binary is None:
        yield None
        return
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--protected-mode", "yes", "--dir", str(workdir)]
    server = Managed(argv, port, workdir / f"redis-{port}.log", probe=None)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        yield Path(tmp)


class Worker:
    """A load-generator process speaking the READY / GO / RESULT line protocol."""

    def __init__(self, proc: asyncio.subprocess.Process, role: str):
        self.proc = proc
        self.role = role

    @classmethod
    async def start(cls, role: str, args: dict[str, Any]) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            *orphan_guard(), sys.executable, str(WORKER_SCRIPT), role, json.dumps(args),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
            limit=64 * 1024 * 1024)
        return cls(proc, role)

    async def expect(self, tag: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.role} worker exited ({await self.proc.wait()}) before {tag}")
                text = line.decode().strip()
                if text.startswith(tag + " "):
                    return json.loads(text[len(tag) + 1:])  # type: ignore[no-any-return]

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    async def stop(self, grace: float = 2.0) -> None:
        """Let a worker that has reported finish on its own (briefly), else terminate, then kill."""
        if self.proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self.proc.wait()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


@contextlib.asynccontextmanager
async def workers(role: str, arg_list: list[dict[str, Any]], ready_timeout: float) -> AsyncIterator[
        tuple[list[Worker], list[dict[str, Any]]]]:
    """Start one worker per argument set, wait until all are READY; always stop them afterwards."""
    started: list[Worker] = []
    grace = 0.0  # on an error, stop them at once
    try:
        for args in arg_list:
            started.append(await Worker.start(role, args))
        ready = [await w.expect("READY", ready_timeout) for w in started]
        yield started, ready
        grace = 2.0
    finally:
        await asyncio.gather(*(w.stop(grace) for w in started), return_exceptions=True)


# ----------------------------------------------------------------------------------- raw HTTP
class RelayHTTPError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


class RawHTTP:
    """A keep-alive HTTP/1.1 client for the relay's JSON POSTs, one request at a time.

    httpx costs about 0.8 ms of CPU per request in research 6.3 (about 1.4 ms on the 2-core VM
    these figures come from), enough to make the load generator the bottleneck; this costs a
    few tens of µs.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer = reader, writer
        self.head = f"Host: {HOST}:{port}\r\nContent-Type: application/json\r\n"

    @classmethod
    async def open(cls, port: int) -> RawHTTP:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer, port)

    def write(self, path: str, body: dict[str, Any], token: str | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}{auth}Content-Length: {len(data)}\r\n\r\n".encode()
                          + data)

    async def read(self) -> Any:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        data = await self.reader.readexactly(length) if length else b""
        body = json.loads(data) if data else None
        if status >= 400:
            raise RelayHTTPError(status, body)
        return body

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        self.write(path, body, token)
        return await self.read()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def new_identity() -> dict[str, Any]:
    """A fresh signed /connect body (an Ed25519 + X25519 key pair per user)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from chatkernel.relay import connect_request

    return connect_request(Ed25519PrivateKey.generate(), X25519PrivateKey.generate().public_key())


async def connect_users(http: RawHTTP, count: int) -> list[tuple[str, str]]:
    """Connect ``count`` new users over one connection; returns (user id, token) pairs."""
    users = []
    for _ in range(count):
        body = new_identity()
        users.append((body["userId"], (await http.post("/connect", body))["token"]))
    return users


async def read_line() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


def emit(tag: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


async def sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.monotonic()))


# ----------------------------------------------------------------------------------- workers
async def latency_worker(args: dict[str, Any]) -> None:
    """Pairs of booted apps running the real signaling feature; send -> RELAY_MESSAGE_RECEIVED latency.

    Both ends of a pair live in this process, so both timestamps come from one perf_counter.
    """
    import features.identity as identity
    import features.persistence as persistence
    import features.signaling as signaling
    from chatkernel import Feature, MountResult, bootstrap

    url, pairs, messages, seconds = args["url"], args["pairs"], args["messages"], args["seconds"]
    base = args.get("pair_base", 0)
    pace = tuple(args.get("pace", PACE_S))
    rng = random.Random(args.get("seed", 1))
    waiters: dict[tuple[int, int], asyncio.Future[float]] = {}

    def on_event(event: Any) -> None:
        now = time.perf_counter()
        if event.type != "RELAY_MESSAGE_RECEIVED":
            return
        body = event.payload.get("payload")
        waiter = waiters.pop((body["p"], body["k"]), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)

    def probe() -> Feature:
        return Feature(id="probe", name="Latency probe", subscribed_events=["RELAY_MESSAGE_RECEIVED"],
                       on_mount=lambda ctx: MountResult(handler=on_event))

    apps: list[Any] = []
    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-profiles-")
    try:
        # Signaling connects as a loaded identity: each user signs up first (a profile database
        # opened with a random key, then identity.create), and signaling connects by itself.
        settings = {"persistence": {"profiles_dir": profiles}, "signaling": {"url": url, "poll_timeout_s": 25.0}}
        for n in range(2 * pairs):
            app = await bootstrap([persistence.feature, identity.feature, signaling.feature, probe()],
                                  settings=settings)
            apps.append(app)
            await app.registry.mount_result("persistence").service.open(os.urandom(32), f"user{n}")
            await app.registry.mount_result("identity").service.create(f"User {n}")
        services = [app.registry.mount_result("signaling").service for app in apps]
        async with asyncio.timeout(30):
            while not all(s.connected for s in services):
                await asyncio.sleep(0.01)

        async def one(p: int, k: int) -> float:
            sender, recipient = services[2 * (p - base)], services[2 * (p - base) + 1]
            waiter = asyncio.get_running_loop().create_future()
            waiters[(p, k)] = waiter
            started = time.perf_counter()
            sending = asyncio.ensure_future(sender.send(recipient.user_id, {"p": p, "k": k}))
            try:
                async with asyncio.timeout(5):
                    arrived = await waiter
                await sending
            finally:
                waiters.pop((p, k), None)
                sending.cancel()
            return arrived - started

        for k in (-3, -2, -1):  # warm-up: open each client's send connection, park each poll
            await asyncio.gather(*(one(base + i, k) for i in range(pairs)))
        await asyncio.sleep(0.05)
        emit("READY", {"pairs": pairs})
        await read_line()

        samples: list[float] = []
        lost = 0
        deadline = time.monotonic() + seconds

        async def pair(p: int) -> None:
            nonlocal lost
            await asyncio.sleep(rng.uniform(*pace))  # desynchronise the pairs
            for k in range(messages):
                if time.monotonic() >= deadline:
                    return
                try:
                    samples.append(await one(p, k))
                except TimeoutError:
                    lost += 1
                await asyncio.sleep(rng.uniform(*pace))

        cpu0, t0 = self_cpu(), time.monotonic()
        await asyncio.gather(*(pair(base + i) for i in range(pairs)))
        cpu1, t1 = self_cpu(), time.monotonic()
        emit("RESULT", {"samples": samples, "lost": lost, "cpu": cpu1 - cpu0, "wall": t1 - t0})
    finally:
        for app in apps:
            with contextlib.suppress(Exception):
                await app.shutdown(timeout=5)
        shutil.rmtree(profiles, ignore_errors=True)


async def load_worker(args: dict[str, Any]) -> None:
    """``pairs`` raw-HTTP senders (to ``send_port``) and long-poll receivers (on ``poll_port``).

    Each pair keeps at most ``window`` messages in flight (sent, not yet received). The parent
    sends ``GO begin end``: load starts at once; messages received within [begin, end] are
    counted, the CPU of this process is sampled at both instants, and the load stops at end.
    """
    send_port, poll_port, pairs, window = args["send_port"], args["poll_port"], args["pairs"], args["window"]
    max_per_pair = args["max_per_pair"]
    pace = args.get("pace")  # (lo, hi): pause after each receipt (use with window 1)
    rng = random.Random(args.get("seed", 3))
    setup = await RawHTTP.open(send_port)
    users = await connect_users(setup, 2 * pairs)
    await setup.close()
    senders = [await RawHTTP.open(send_port) for _ in range(pairs)]
    pollers = [await RawHTTP.open(poll_port) for _ in range(pairs)]
    emit("READY", {"pairs": pairs})
    _, begin_s, end_s = (await read_line()).split()
    begin, end = float(begin_s), float(end_s)

    sent = [0] * pairs
    received = [0] * pairs
    room = [asyncio.Event() for _ in range(pairs)]
    sent_at: list[dict[int, float]] = [{} for _ in range(pairs)]
    counted = 0
    latencies: list[float] = []
    errors: list[str] = []
    stop = False

    async def sender(i: int) -> None:
        uid, token = users[2 * i]
        to = users[2 * i + 1][0]
        http = senders[i]
        while not stop and sent[i] < max_per_pair:
            if sent[i] - received[i] >= window:
                room[i].clear()
                await room[i].wait()
                continue
            if pace is not None and sent[i]:
                await asyncio.sleep(rng.uniform(*pace))
                if stop:
                    return
            seq = sent[i]
            sent_at[i][seq] = time.monotonic()
            sent[i] += 1
            await http.post("/send", {"from": uid, "to": to, "id": f"m{seq}", "payload": seq}, token)

    async def receiver(i: int) -> None:
        nonlocal counted
        uid, token = users[2 * i + 1]
        http = pollers[i]
        since = None
        while received[i] < sent[i] or not stop:
            body: dict[str, Any] = {"userId": uid, "timeout": 5}
            if since is not None:
                body["since"] = since
            events = await http.post("/poll", body, token)
            now = time.monotonic()
            for event in events:
                seq = event["payload"]
                started = sent_at[i].pop(seq)
                received[i] += 1
                if begin <= now <= end:
                    counted += 1
                    latencies.append(now - started)
            if events:
                since = events[-1]["id"]
                room[i].set()

    async def guarded(coro: Any) -> None:
        try:
            await coro
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            errors.append(f"{type(exc).__name__}: {exc}")

    tasks = [asyncio.ensure_future(guarded(sender(i))) for i in range(pairs)]
    tasks += [asyncio.ensure_future(guarded(receiver(i))) for i in range(pairs)]
    await sleep_until(begin)
    cpu0 = self_cpu()
    sent0 = sum(sent)
    await sleep_until(end)
    cpu1 = self_cpu()
    sent1 = sum(sent)
    stop = True
    for event in room:
        event.set()
    # Drain what is in flight (bounded), then hang up on the polls still parked.
    await asyncio.wait(tasks[:pairs], timeout=3.0)  # the senders: a /send may be under way
    drain_end = time.monotonic() + 3.0
    while time.monotonic() < drain_end and any(r < s for r, s in zip(received, sent)):
        await asyncio.sleep(0.005)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for http in senders + pollers:
        await http.close()
    latencies.sort()
    step = max(1, len(latencies) // 5000)  # a uniform thinning keeps the percentiles, not the bulk
    emit("RESULT", {"received": counted, "sent": sent1 - sent0, "cpu": cpu1 - cpu0, "wall": end - begin,
                    "latencies": latencies[::step], "errors": errors[:5], "undelivered": sum(sent) - sum(received)})


async def park_worker(args: dict[str, Any]) -> None:
    """Connect ``users`` users, then on ``PARK`` open one connection each and park a long poll;
    on ``RELEASE`` send each a message, check every parked poll answers with it, and quit."""
    port, count, timeout = args["port"], args["users"], args["timeout"]
    setup = await RawHTTP.open(port)
    users = await connect_users(setup, count + 1)
    waker, users = users[0], users[1:]
    emit("READY", {"users": count})
    await read_line()  # PARK

    conns = await asyncio.gather(*(RawHTTP.open(port) for _ in users))
    for http, (uid, token) in zip(conns, users):
        http.write("/poll", {"userId": uid, "timeout": timeout}, token)
    await asyncio.gather(*(http.writer.drain() for http in conns))
    answers = [asyncio.ensure_future(http.read()) for http in conns]
    await asyncio.sleep(0.2)
    emit("PARKED", {"written": len(conns), "answered_early": sum(a.done() for a in answers)})
    await read_line()  # RELEASE

    early = sum(a.done() for a in answers)
    started = time.monotonic()
    for i, (uid, _token) in enumerate(users):
        await setup.post("/send", {"from": waker[0], "to": uid, "id": f"wake{i}", "payload": i}, waker[1])
    sends_done = time.monotonic()
    delivered = 0
    failures: list[str] = []
    async with asyncio.timeout(max(10.0, timeout)):
        for i, answer in enumerate(answers):
            try:
                events = await answer
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if len(events) == 1 and events[0]["payload"] == i:
                delivered += 1
            else:
                failures.append(f"poll {i} answered {events!r}")
    finished = time.monotonic()
    for http in [setup, *conns]:
        await http.close()
    emit("RESULT", {"delivered": delivered, "answered_early": early, "failures": failures[:5],
                    "send_s": sends_done - started, "all_delivered_s": finished - started})


async def seed_poller(url: str, pairs: int, messages: int, seconds: float, seed: int = 2) -> dict[str, Any]:
    """The seed's design: poll with ``timeout=0`` (the relay answers at once), sleep 1 s, repeat.

    Latency is the sender's send -> the poll answer that carried the message, both on this
    process's perf_counter. After each receipt the sender pauses a uniform 0-1 s, so sends fall
    at random phases of the poll period (a fixed short pause would lock every send just after
    a poll and always wait almost the whole second).
    """
    from features.signaling.client import RelayClient

    rng = random.Random(seed)
    clients: list[RelayClient] = []
    uids: list[str] = []
    samples: list[float] = []
    lost = 0
    waiters: dict[tuple[int, int], asyncio.Future[float]] = {}
    stop = False
    try:
        for _ in range(2 * pairs):
            client = RelayClient(url)
            clients.append(client)
            body = new_identity()
            await client.connect(body)
            uids.append(body["userId"])

        async def poller(i: int) -> None:
            client, uid, since = clients[2 * i + 1], uids[2 * i + 1], None
            while not stop:
                events = await client.poll(uid, since, 0)
                now = time.perf_counter()
                for event in events:
                    waiter = waiters.pop((event["payload"]["p"], event["payload"]["k"]), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(now)
                if events:
                    since = events[-1]["id"]
                await asyncio.sleep(1.0)

        async def sender(i: int) -> None:
            nonlocal lost
            client, uid, to = clients[2 * i], uids[2 * i], uids[2 * i + 1]
            deadline = time.monotonic() + seconds
            await asyncio.sleep(rng.uniform(0, 1.0))
            for k in range(messages):
                if time.monotonic() >= deadline:
                    return
                waiter = asyncio.get_running_loop().create_future()
                waiters[(i, k)] = waiter
                started = time.perf_counter()
                await client.send(uid, to, f"s{k}", {"p": i, "k": k})
                try:
                    async with asyncio.timeout(3.0):
                        samples.append(await waiter - started)
                except TimeoutError:
                    lost += 1
                await asyncio.sleep(rng.uniform(0, 1.0))

        pollers = [asyncio.ensure_future(poller(i)) for i in range(pairs)]
        try:
            await asyncio.gather(*(sender(i) for i in range(pairs)))
        finally:
            stop = True
            for task in pollers:
                task.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
        return {"samples": samples, "lost": lost}
    finally:
        for client in clients:
            await client.aclose()


def profiled_relay(args: dict[str, Any]) -> int:
    """``python -m chatkernel.relay ARGV`` under cProfile; the stats are written when it stops
    (SIGTERM makes the CLI shut down cleanly and return)."""
    import cProfile

    from chatkernel.relay.__main__ import main

    sys.argv = ["python -m chatkernel.relay", *args["argv"]]
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return main()
    finally:
        profiler.disable()
        profiler.dump_stats(args["out"])


def profile_summary(path: Path, top: int = 12) -> str:
    """Own CPU time of a profiled relay grouped by where the code lives, then the top functions."""
    import pstats

    stats = pstats.Stats(str(path))
    groups: dict[str, float] = {}
    places = (("uvicorn", "uvicorn (server, h11 glue)"), ("/h11/", "h11 (HTTP/1.1 parser, pure Python)"),
              ("starlette", "Starlette (routing, requests, responses)"), ("/redis/", "redis-py"),
              ("chatkernel/relay", "chatkernel.relay (the relay's own code)"), ("asyncio", "asyncio"),
              ("json", "json"))
    idle = 0.0
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in entries:
        if filename == "~" and "select.epoll" in name:
            idle += tottime
            continue
        group = next((label for key, label in places if key in filename), None)
        if group is None:
            group = "socket syscalls" if filename == "~" and "socket" in name else "other / builtins"
        groups[group] = groups.get(group, 0.0) + tottime
    busy = sum(groups.values())
    lines = [f"   profiled relay: {busy:.2f} s busy, {idle:.2f} s waiting in epoll (cProfile inflates Python calls)"]
    lines += [f"   {share / busy:5.0%}  {label}" for label, share in sorted(groups.items(), key=lambda kv: -kv[1])]
    lines.append("   top functions by own time:")
    ranked = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, calls, tottime, _ct, _callers) in ranked[:top]:
        if filename == "~" and "select.epoll" in name:
            continue
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else "builtin"
        lines.append(f"   {tottime:7.3f} s {calls:9,d}  {name} ({where}:{line})")
    return "\n".join(lines)


ROLES = {"latency": latency_worker, "load": load_worker, "park": park_worker}

if __name__ == "__main__":
    role, raw = sys.argv[1], sys.argv[2]
    if role == "profile-relay":
        sys.exit(profiled_relay(json.loads(raw)))
    try:
        asyncio.run(ROLES[role](json.loads(raw)))
    except KeyboardInterrupt:
        sys.exit(130)
