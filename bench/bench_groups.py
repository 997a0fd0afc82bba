"""Group messages (one Sender Key seal, the same bytes to every mailbox) beside N-1 pairwise sends.

For groups of N = 3, 6 and 12 people (the sender and N-1 members), in one run, through one relay
process (``python -m chatkernel.relay``, memory store, rate limits raised):

1. **Sender cost**: the wall time of ``await messaging.send(group, text)`` (it returns once the
   text is sealed once with our sender key, stored, and queued for every member, one SQLCipher
   transaction) beside sending the same text pairwise, ``messaging.send(member, text)`` for each
   of the N-1 members one after another (N-1 Double Ratchet seals, N-1 transactions); median
   and 90th percentile, and the sender process's CPU for the same calls.
2. **Delivery**: from the send call to the *last* member's ``SECURE_MESSAGE_RECEIVED`` for that
   message (group) beside from the first pairwise send to the last pairwise arrival; p50 and
   p99 at chat pace (a 100-300 ms pause after each complete delivery). Group and pairwise
   messages alternate (the order swapped every message), so both meet the same machine.
3. **The relay's bytes**: the payload one member's mailbox gets for a group message (``{"v",
   "group", "envelope"}``, a sender-key ciphertext) beside a pairwise one (``{"v", "envelope"}``,
   a Double Ratchet ciphertext), as the member's signaling hands it over; both carry N-1 copies.

Warm-up first: every session and key is established (the sender -> each member starts the X3DH
session, each member answers, the sender again; then the groups are created and the benchmark
waits until every invitation and key went, and sends two group messages to each group), so the
figures are per message on established sessions and sender keys.

The sender's app runs in this process, the members' apps (11, shared by the three groups) in
two worker processes (member m in worker m % 2): their opening of every copy would otherwise run
on the sender's event loop and be charged to the pairwise sender, which sends while the first
members already receive. The delivery table also shows when the relay accepted the last copy
(the sender's ``RELAY_MESSAGE_SENT``): both kinds upload N-1 copies, one request at a time.
All processes stamp with ``time.perf_counter`` (CLOCK_MONOTONIC, one clock for the whole
machine; checked). Every member's copy is verified (the exact text, from the sender, once;
and at the end each member's history of each conversation); any miss fails the benchmark.

Everything binds and connects on 127.0.0.1; every loop is bounded in count and time; every
process is terminated (then killed) on the way out.

Run alone: ``.venv/bin/python bench/bench_groups.py [--quick]`` (about 90 s; quick about 25 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _relay_load as L
from _util import Deadline, SummaryRow, percentile, print_header, text_table

SIZES = (3, 6, 12)  # people in a group, the sender included
MEMBERS = max(SIZES) - 1  # the members' apps, shared by the groups
MEMBER_PROCS = 2  # member m lives in worker m % 2: a group's members' copies are opened on two loops
SCRIPT = Path(__file__).resolve()
IDLE = ("--idle-timeout", "120")  # as bench_messaging: off the relay / httpx keep-alive race
ARRIVAL_TIMEOUT_S = 10.0  # a copy later than this fails the benchmark
TEXT = "the quick brown fox jumps over the lazy dog"


@dataclass(frozen=True)
class Plan:
    messages: int  # of each kind, per group size
    seconds: float  # per group size


FULL = Plan(messages=60, seconds=40.0)
QUICK = Plan(messages=15, seconds=10.0)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _check_clock() -> None:
    info = time.get_clock_info("perf_counter")
    if "CLOCK_MONOTONIC" not in info.implementation or "RAW" in info.implementation:
        raise RuntimeError(f"perf_counter is {info.implementation}, not one clock across processes")


def _size(payload: Any) -> int:
    return len(json.dumps(payload, separators=(",", ":")).encode())


WATCHED = ["SECURE_MESSAGE_RECEIVED", "RELAY_MESSAGE_RECEIVED", "RELAY_MESSAGE_SENT", "PREKEYS_PUBLISHED",
           "GROUP_CHANGED", "FEATURE_ERROR", "UNREADABLE_MESSAGE", "SECURE_MESSAGE_FAILED"]


async def _boot(n: int, url: str, profiles: str, on_event: Callable[[int, Any], None]) -> Any:
    """A signed-up app with the whole secure stack, as bench_messaging boots them."""
    import features.crypto as crypto
    import features.identity as identity
    import features.messaging as messaging
    import features.persistence as persistence
    import features.signaling as signaling
    from chatkernel import Feature, MountResult, bootstrap

    probe = Feature(id="probe", name="Group probe", subscribed_events=WATCHED,
                    on_mount=lambda ctx: MountResult(handler=lambda event: on_event(n, event)))
    settings = {"persistence": {"profiles_dir": profiles}, "signaling": {"url": url, "poll_timeout_s": 25.0}}
    app = await bootstrap([persistence.feature, identity.feature, crypto.feature, signaling.feature,
                           messaging.feature, probe], settings=settings)
    await app.registry.mount_result("persistence").service.open(os.urandom(32), f"user{n}")
    await app.registry.mount_result("identity").service.create(f"User {n}")
    return app


def _svc(app: Any, feature: str) -> Any:
    return app.registry.mount_result(feature).service


class Quiet:
    """Until nothing is on its way from some apps: no group control due, nothing in the outbox,
    and no relay message for a while (the ``_quiet`` of the group tests, without the relay's store)."""

    def __init__(self) -> None:
        self.last_relay = time.perf_counter()
        self.relayed = 0

    def heard(self) -> None:
        self.last_relay = time.perf_counter()
        self.relayed += 1

    async def wait(self, apps: list[Any], seconds: float = 60.0) -> None:
        calm = 0
        deadline = Deadline(seconds)
        while not deadline.expired():
            busy = False
            for app in apps:
                busy |= bool(await _svc(app, "messaging").flush_group_controls())
                busy |= bool(_svc(app, "signaling").pending_sends)
            busy |= time.perf_counter() - self.last_relay < 0.3
            calm = 0 if busy else calm + 1
            if calm >= 3:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the apps did not settle within {seconds:.0f} s")


# ----------------------------------------------------------------------------------- parent side
class Members:
    """The worker process holding the members' apps: commands on its stdin, lines on its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.worker = L.Worker(proc, "members")
        self.proc = proc
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.on_got: Callable[[dict[str, Any]], None] = lambda got: None
        self.errors: list[str] = []
        self.reader = asyncio.ensure_future(self._read())

    def _queue(self, tag: str) -> asyncio.Queue[dict[str, Any]]:
        return self.queues.setdefault(tag, asyncio.Queue())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            tag, _, rest = line.decode().strip().partition(" ")
            try:
                data = json.loads(rest)
            except ValueError:
                continue  # not one of ours
            if tag == "GOT":
                self.on_got(data)
            elif tag == "ERROR":
                if len(self.errors) < 20:
                    self.errors.append(data["error"])
            else:
                self._queue(tag).put_nowait(data)

    async def expect(self, tag: str, timeout: float) -> dict[str, Any]:
        getting = asyncio.ensure_future(self._queue(tag).get())
        try:
            done, _ = await asyncio.wait({getting, self.reader}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getting.done():
                getting.cancel()
        if getting in done:
            return getting.result()
        if self.reader in done:
            raise RuntimeError(f"the members' worker exited ({await self.proc.wait()}) before {tag}")
        raise TimeoutError(f"the members' worker sent no {tag} within {timeout:.0f} s")

    def tell(self, command: dict[str, Any]) -> None:
        self.worker.tell(json.dumps(command))

    async def ask(self, command: dict[str, Any], answer: str, timeout: float) -> dict[str, Any]:
        self.tell(command)
        return await self.expect(answer, timeout)


class Crowd:
    """Every member, over the worker processes: member ``m`` (0-based) lives in worker ``m % procs``."""

    def __init__(self, parts: list[Members], owned: list[list[int]]):
        self.parts = parts
        self.owned = owned

    @property
    def errors(self) -> list[str]:
        return [e for p in self.parts for e in p.errors]

    def on_got(self, handler: Callable[[dict[str, Any]], None]) -> None:
        for part in self.parts:
            part.on_got = handler

    async def users(self, timeout: float) -> list[str]:
        readies = await asyncio.gather(*(p.expect("READY", timeout) for p in self.parts))
        users = [""] * sum(len(o) for o in self.owned)
        for owned, ready in zip(self.owned, readies):
            for m, user in zip(owned, ready["users"]):
                users[m] = user
        return users

    async def ask(self, command: Callable[[list[int]], dict[str, Any]], answer: str,
                  timeout: float) -> list[dict[str, Any]]:
        """Each worker its own command (given the members it holds); their answers."""
        for part, owned in zip(self.parts, self.owned):
            part.tell(command(owned))
        return list(await asyncio.gather(*(p.expect(answer, timeout) for p in self.parts)))

    def cpu(self) -> float:
        return sum(L.cpu_seconds(p.proc.pid) for p in self.parts)


@contextlib.asynccontextmanager
async def _members(url: str) -> AsyncIterator[Crowd]:
    owned = [list(range(MEMBERS))[i::MEMBER_PROCS] for i in range(MEMBER_PROCS)]
    parts: list[Members] = []
    grace = 0.0
    try:
        for indices in owned:
            proc = await asyncio.create_subprocess_exec(
                *L.orphan_guard(), sys.executable, str(SCRIPT), "--worker",
                json.dumps({"url": url, "indices": indices}),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None, limit=64 * 1024 * 1024)
            parts.append(Members(proc))
        yield Crowd(parts, owned)
        grace = 5.0
    finally:
        for part in parts:
            with contextlib.suppress(Exception):
                if grace:
                    part.tell({"cmd": "stop"})
        await asyncio.gather(*(p.worker.stop(grace) for p in parts), return_exceptions=True)
        for part in parts:
            part.reader.cancel()
        await asyncio.gather(*(p.reader for p in parts), return_exceptions=True)


class Sender:
    """The sender's app in this process, and the bookkeeping of every copy on its way."""

    def __init__(self, members: Crowd):
        self.members = members
        self.app: Any = None
        self.user = ""
        self.waiting: dict[tuple[int, str], tuple[asyncio.Future[float], str, str]] = {}  # (member, id)
        self.arrived: set[tuple[int, str]] = set()
        self.problems: list[str] = []
        self.replies: dict[str, asyncio.Future[float]] = {}
        self.quiet = Quiet()
        self.published = False
        self.errors: list[str] = []
        self.accepted: dict[str, float] = {}  # transport id -> when the relay accepted it (RELAY_MESSAGE_SENT)
        self.sizes: dict[str, list[tuple[int, int]]] = {}  # message id -> each copy's (payload, envelope) bytes
        members.on_got(self._got)

    def on_event(self, _n: int, event: Any) -> None:
        now = time.perf_counter()
        if event.type == "SECURE_MESSAGE_RECEIVED":
            waiter = self.replies.pop(event.payload["id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)
        elif event.type == "RELAY_MESSAGE_RECEIVED":
            self.quiet.heard()
        elif event.type == "PREKEYS_PUBLISHED":
            self.published = True
        elif event.type == "RELAY_MESSAGE_SENT":
            self.accepted[str(event.payload.get("id"))] = now
            while len(self.accepted) > 100_000:
                self.accepted.pop(next(iter(self.accepted)))
        elif event.type in ("FEATURE_ERROR", "UNREADABLE_MESSAGE", "SECURE_MESSAGE_FAILED") and len(self.errors) < 20:
            self.errors.append(f"sender: {event.type}: {dict(event.payload)}")

    def _got(self, got: dict[str, Any]) -> None:
        key = (int(got["member"]), str(got["id"]))
        if key in self.arrived:
            self.problems.append(f"member {key[0]} got {key[1]} twice")
            return
        entry = self.waiting.pop(key, None)
        if entry is None:
            self.problems.append(f"member {key[0]} got {key[1]}, which was not sent to it (or came late)")
            return
        self.arrived.add(key)
        waiter, peer, text = entry
        if got["body"] != text or got["peer"] != peer or got["author"] != self.user:
            self.problems.append(f"member {key[0]} got {key[1]} as {got['body']!r} in {got['peer']} by "
                                 f"{got['author']}, not {text!r} in {peer} by the sender")
        if not waiter.done():
            waiter.set_result(float(got["t"]))
        self.sizes.setdefault(key[1], []).append((int(got["size"][0]), int(got["size"][1])))

    def expect(self, member: int, message_id: str, peer: str, text: str) -> asyncio.Future[float]:
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[(member, message_id)] = (waiter, peer, text)
        return waiter

    async def arrivals(self, waiters: list[asyncio.Future[float]]) -> tuple[float, float]:
        """The first and the last of these copies' arrivals, or a loud failure."""
        try:
            async with asyncio.timeout(ARRIVAL_TIMEOUT_S):
                times = await asyncio.gather(*waiters)
        except TimeoutError:
            missing = [k for k, (w, _, _) in self.waiting.items() if w in waiters]
            raise RuntimeError(f"{len(missing)} copies not delivered within {ARRIVAL_TIMEOUT_S:.0f} s: "
                               f"{missing[:3]}; problems: {self.problems[:3]}; errors: "
                               f"{(self.errors + self.members.errors)[:3]}") from None
        if self.problems:
            raise RuntimeError(f"wrong delivery: {self.problems[:5]}")
        return min(times), max(times)


async def _settle(sender: Sender, members: Crowd) -> None:
    """Both sides quiet, twice with no relay message meanwhile."""
    before: tuple[int, int] | None = None
    for _ in range(20):
        theirs = await members.ask(lambda owned: {"cmd": "quiet"}, "QUIET", 90)
        await sender.quiet.wait([sender.app])
        now = (sum(int(t["relayed"]) for t in theirs), sender.quiet.relayed)
        if now == before:
            return
        before = now
    raise RuntimeError("the sender and the members did not settle")


async def _measure(sender: Sender, group: str, users: list[str], n: int, plan: Plan,
                   rng: random.Random, texts: dict[tuple[int, str], list[str]]) -> dict[str, Any]:
    """Group and pairwise sends to the same N-1 members, alternating, at chat pace."""
    messaging = _svc(sender.app, "messaging")
    members = list(range(n - 1))
    out: dict[str, list[float]] = {k: [] for k in ("g_send", "p_send", "g_cpu", "p_cpu", "g_all", "p_all",
                                                    "g_first", "p_first")}
    g_ids: list[str] = []
    p_ids: list[str] = []
    rounds: list[tuple[str, float, list[str]]] = []  # (kind, t0, transport ids)
    deadline = Deadline(plan.seconds)

    async def group_one(k: int) -> None:
        text = f"group of {n} #{k}: {TEXT}"
        message_id = uuid.uuid4().hex
        waiters = [sender.expect(m, message_id, group, text) for m in members]
        for m in members:
            texts.setdefault((m, group), []).append(text)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await messaging.send(group, text, message_id=message_id)
        t1, cpu1 = time.perf_counter(), time.process_time()
        first, last = await sender.arrivals(waiters)
        out["g_first"].append(first - t0)
        out["g_send"].append(t1 - t0)
        out["g_cpu"].append(cpu1 - cpu0)
        out["g_all"].append(last - t0)
        g_ids.append(message_id)
        rounds.append(("g", t0, [f"{message_id}.{users[m]}" for m in members]))

    async def pairwise_one(k: int) -> None:
        text = f"pairwise to {n - 1} #{k}: {TEXT}"
        ids = [uuid.uuid4().hex for _ in members]
        waiters = [sender.expect(m, ids[m], sender.user, text) for m in members]
        for m in members:
            texts.setdefault((m, sender.user), []).append(text)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for m in members:
            await messaging.send(users[m], text, message_id=ids[m])
        t1, cpu1 = time.perf_counter(), time.process_time()
        first, last = await sender.arrivals(waiters)
        out["p_first"].append(first - t0)
        out["p_send"].append(t1 - t0)
        out["p_cpu"].append(cpu1 - cpu0)
        out["p_all"].append(last - t0)
        p_ids.extend(ids)
        rounds.append(("p", t0, ids))

    await asyncio.sleep(rng.uniform(*L.SLOW_PACE_S))
    for k in range(plan.messages):
        if deadline.expired():
            break
        for one in ((group_one, pairwise_one) if k % 2 == 0 else (pairwise_one, group_one)):
            await one(k)
            await asyncio.sleep(rng.uniform(*L.SLOW_PACE_S))
    await sender.quiet.wait([sender.app], 10)  # the last RELAY_MESSAGE_SENT handled
    accepted: dict[str, list[float]] = {"g": [], "p": []}
    for kind, t0, transport in rounds:
        times = [sender.accepted.pop(i, None) for i in transport]
        if None in times:
            raise RuntimeError(f"the relay never accepted {times.count(None)} of {len(times)} copies")
        accepted[kind].append(max(t for t in times if t is not None) - t0)
    out["g_accepted"], out["p_accepted"] = accepted["g"], accepted["p"]
    g_sizes = [s for i in g_ids for s in sender.sizes.pop(i)]
    p_sizes = [s for i in p_ids for s in sender.sizes.pop(i)]
    return {"n": n, "count": len(out["g_send"]), **out, "g_size": g_sizes, "p_size": p_sizes}


async def _all(plan: Plan) -> list[SummaryRow]:
    _check_clock()
    rng = random.Random(7)
    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-groups-")
    with L.scratch_dir() as workdir, L.relay_process("memory", *IDLE, workdir=workdir) as relay:
        async with _members(relay.url) as members:
            sender = Sender(members)
            try:
                sender.app = await _boot(0, relay.url, profiles, sender.on_event)
                sender.user = str(_svc(sender.app, "identity").user_id)
                users = await members.users(180)
                async with asyncio.timeout(60):
                    while not (sender.app.actors["signaling"].state == ["connected"] and sender.published):
                        await asyncio.sleep(0.01)
                results, checks = await _session(sender, members, users, plan, rng, relay.pid)
                verdicts = await members.ask(lambda owned: {
                    "cmd": "check", "sender": sender.user,
                    "expect": {str(m): checks[str(m)] for m in owned if str(m) in checks}}, "CHECKED", 120)
                mismatches = [x for v in verdicts for x in v["mismatches"]]
                if mismatches:
                    raise RuntimeError(f"members' histories differ from what was sent: {mismatches[:5]}")
                errors = sender.errors + members.errors
                counts = sum(int(v["counted"]) for v in verdicts)
            finally:
                if sender.app is not None:
                    with contextlib.suppress(Exception):
                        await sender.app.shutdown(timeout=5)
                shutil.rmtree(profiles, ignore_errors=True)
    return _report(results, errors, counts)


async def _session(sender: Sender, members: Crowd, users: list[str], plan: Plan, rng: random.Random,
                   relay_pid: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[str]]]]:
    messaging = _svc(sender.app, "messaging")
    texts: dict[tuple[int, str], list[str]] = {}
    t_setup = time.perf_counter()

    async def pairwise_round(tag: str) -> None:
        ids = [uuid.uuid4().hex for _ in users]
        waiters = []
        for m, (user, message_id) in enumerate(zip(users, ids)):
            text = f"warm-up {tag} to {m}"
            waiters.append(sender.expect(m, message_id, sender.user, text))
            texts.setdefault((m, sender.user), []).append(text)
            await messaging.send(user, text, message_id=message_id)
        await sender.arrivals(waiters)

    # the sender -> each member starts the X3DH session, each answers, the sender again
    await pairwise_round("a")
    reply_ids = [uuid.uuid4().hex for _ in users]
    for message_id in reply_ids:
        sender.replies[message_id] = asyncio.get_running_loop().create_future()
    waits = list(sender.replies.values())
    await members.ask(lambda owned: {"cmd": "reply", "to": sender.user,
                                     "ids": {str(m): reply_ids[m] for m in owned}}, "REPLIED", 60)
    async with asyncio.timeout(30):
        await asyncio.gather(*waits)
    await pairwise_round("b")

    groups: dict[int, str] = {}
    for n in SIZES:
        groups[n] = await messaging.create_group(f"Bench {n}", users[:n - 1])
        joined = await members.ask(lambda owned, n=n: {"cmd": "joined", "group": groups[n],
                                                        "members": [m for m in owned if m < n - 1]}, "JOINED", 60)
        if sum(j["count"] for j in joined) != n - 1:
            raise RuntimeError(f"{sum(j['count'] for j in joined)} of {n - 1} members joined group {groups[n]}")
    await _settle(sender, members)
    for n in SIZES:  # the first group messages under each sender key
        for k in range(2):
            message_id, text = uuid.uuid4().hex, f"warm-up group of {n} #{k}"
            waiters = [sender.expect(m, message_id, groups[n], text) for m in range(n - 1)]
            for m in range(n - 1):
                texts.setdefault((m, groups[n]), []).append(text)
            await messaging.send(groups[n], text, message_id=message_id)
            await sender.arrivals(waiters)
    await _settle(sender, members)
    sender.sizes.clear()
    print(f"   set up: 1 sender + {len(users)} members booted, sessions, {len(SIZES)} groups, keys: "
          f"{time.perf_counter() - t_setup:.1f} s", flush=True)

    results = []
    for n in SIZES:
        machine0, t0 = L.machine_cpu(), time.monotonic()
        cpu0 = L.self_cpu(), members.cpu(), L.cpu_seconds(relay_pid)
        r = await _measure(sender, groups[n], users, n, plan, rng, texts)
        wall = time.monotonic() - t0
        cpu1 = L.self_cpu(), members.cpu(), L.cpu_seconds(relay_pid)
        r["utils"] = tuple((b - a) / wall for a, b in zip(cpu0, cpu1))
        r["others"] = L.others_cores(machine0, L.machine_cpu(), wall, sum(r["utils"]))
        results.append(r)
        print(f"   group of {n}: {r['count']} group + {r['count']} pairwise rounds in {wall:.1f} s", flush=True)
    if sender.waiting:
        raise RuntimeError(f"{len(sender.waiting)} copies never arrived")
    checks: dict[str, dict[str, list[str]]] = {}
    for (m, peer), bodies in texts.items():
        checks.setdefault(str(m), {})[peer] = bodies
    return results, checks


def _report(results: list[dict[str, Any]], errors: list[str], counted: int) -> list[SummaryRow]:
    cost_rows, delivery_rows, byte_rows = [], [], []
    for r in results:
        n, m = r["n"], r["n"] - 1
        g50, g90, p50, p90 = (percentile(r[k], q) for k, q in (("g_send", 50), ("g_send", 90),
                                                                ("p_send", 50), ("p_send", 90)))
        cost_rows.append((f"{n} people ({m} members)", r["count"], _ms(g50), _ms(g90), _ms(p50), _ms(p90),
                          f"{g50 / p50:.2f}x", f"{g90 / p90:.2f}x", _ms(percentile(r["g_cpu"], 50)),
                          _ms(percentile(r["p_cpu"], 50)),
                          f"{percentile(r['g_cpu'], 50) / percentile(r['p_cpu'], 50):.2f}x"))
        d = {k: (percentile(r[k], 50), percentile(r[k], 99)) for k in ("g_all", "p_all")}
        delivery_rows.append((f"{n} people ({m} members)", r["count"], _ms(d["g_all"][0]), _ms(d["g_all"][1]),
                              _ms(d["p_all"][0]), _ms(d["p_all"][1]), f"{d['g_all'][0] / d['p_all'][0]:.2f}x",
                              f"{d['g_all'][1] / d['p_all'][1]:.2f}x", _ms(percentile(r["g_first"], 50)),
                              _ms(percentile(r["p_first"], 50)), _ms(percentile(r["g_accepted"], 50)),
                              _ms(percentile(r["p_accepted"], 50)),
                              " ".join(f"{u:.0%}" for u in r["utils"]), f"{r['others']:.2f}"))
        if min(min(x) for x in r["g_size"] + r["p_size"]) < 0:
            raise RuntimeError("a copy's relay payload was not seen")
        gs, ps = (percentile([x[0] for x in r[k]], 50) for k in ("g_size", "p_size"))
        ge, pe = (percentile([x[1] for x in r[k]], 50) for k in ("g_size", "p_size"))
        byte_rows.append((f"{n} people ({m} members)", f"{gs} B", f"{ge} B", f"{gs - ge} B", f"{ps} B", f"{pe} B",
                          f"{ps - pe} B", f"{gs / ps:.3f}x", f"{ge / pe:.3f}x", f"{gs * m:,} B", f"{ps * m:,} B"))
        r.update(g50=g50, g90=g90, p50=p50, p90=p90, d=d, gs=gs, ps=ps)
    print("\n-- 1. sender cost: `await messaging.send(group, text)` vs `messaging.send(member, text)` for each "
          "member in turn")
    print(text_table(("group", "messages", "group p50", "group p90", "pairwise p50", "pairwise p90",
                      "ratio p50", "ratio p90", "group CPU p50", "pairwise CPU p50", "CPU ratio"), cost_rows))
    print("   ratio = group / pairwise (same run, alternating); CPU = this process (the sender's app: event loop "
          "and database threads) during the call")
    print(f"\n-- 2. delivery: send -> the last member's SECURE_MESSAGE_RECEIVED, chat pace "
          f"({L.SLOW_PACE_S[0] * 1e3:.0f}-{L.SLOW_PACE_S[1] * 1e3:.0f} ms after each complete delivery)")
    print(text_table(("group", "messages", "group p50", "group p99", "pairwise p50", "pairwise p99", "ratio p50",
                      "ratio p99", "first member p50: group", "pairwise",
                      "relay took last copy p50: group", "pairwise", "CPU/core: sender members relay",
                      "others"), delivery_rows))
    print("   relay took last copy = the send call -> the sender's RELAY_MESSAGE_SENT for the last of the N-1 "
          "copies (its signaling sends them one at a time)")
    print(f"   the {MEMBERS} members share {MEMBER_PROCS} processes (each opens its members' copies one after "
          f"another, alike for both); others = cores used meanwhile by everything else on the machine's "
          f"{os.cpu_count()}")
    print("\n-- 3. the relay's bytes: the payload one member's mailbox gets for one message (compact JSON)")
    print(text_table(("group", "group copy", "envelope", "framing", "pairwise copy", "envelope", "framing",
                      "group / pairwise", "envelopes", "relay, all copies: group", "pairwise"), byte_rows))
    print("   medians; envelope = the base64url ciphertext (sender-key message / Double Ratchet message), framing = "
          "the rest of the JSON ({v, group, envelope} / {v, envelope}); both send N-1 copies through the relay")
    print(f"   verified: every copy arrived once with its text; {counted} history rows checked at the members")
    for error in errors[:5]:
        print(f"   error: {error}")
    rows: list[SummaryRow] = []
    for r in results:
        n = r["n"]
        rows.append(SummaryRow("groups", f"{n} people: send to group vs {n - 1} pairwise sends, p50 (p90)",
                               f"{_ms(r['g50'])} ({_ms(r['g90'])})",
                               f"pairwise {_ms(r['p50'])} ({_ms(r['p90'])})", r["g50"] / r["p50"], "informative"))
    for r in results:
        n, d = r["n"], r["d"]
        rows.append(SummaryRow("groups", f"{n} people: send -> last member's arrival, chat pace, p50 (p99)",
                               f"{_ms(d['g_all'][0])} ({_ms(d['g_all'][1])})",
                               f"pairwise {_ms(d['p_all'][0])} ({_ms(d['p_all'][1])})",
                               d["g_all"][0] / d["p_all"][0], "informative"))
    last = results[-1]
    rows.append(SummaryRow("groups", "relay payload per member copy (group field + sender-key message)",
                           f"{last['gs']} B", f"pairwise {last['ps']} B", last["gs"] / last["ps"], "informative"))
    return rows


def run(quick: bool) -> list[SummaryRow]:
    print_header("group messages (one sender-key seal) beside N-1 pairwise sends", quick)
    return L.run_terminable(lambda: _all(QUICK if quick else FULL))


# ----------------------------------------------------------------------------------- worker side
async def members_worker(args: dict[str, Any]) -> None:
    """The members' apps: each copy's arrival reported (time, text, size); commands on stdin."""
    url, indices = args["url"], list(args["indices"])
    count = len(indices)
    quiet = Quiet()
    sizes: list[dict[str, tuple[int, int]]] = [{} for _ in range(count)]  # relay id -> (payload, envelope)
    joined: dict[str, set[int]] = {}
    seen: set[tuple[int, str, str]] = set()
    tasks: set[asyncio.Task[None]] = set()
    apps: list[Any] = []
    services: list[Any] = []

    async def report(n: int, payload: dict[str, Any], t: float) -> None:
        peer, message_id = str(payload["peer"]), str(payload["id"])
        row = await services[n].message(peer, message_id, direction="in")
        if row is None:
            L.emit("ERROR", {"error": f"member {indices[n]}: {message_id} announced, not stored"})
            return
        L.emit("GOT", {"member": indices[n], "peer": peer, "id": message_id, "author": payload.get("author"), "t": t,
                       "body": row["body"], "size": sizes[n].pop(str(row["relay_id"]), (-1, -1))})

    def on_event(n: int, event: Any) -> None:
        now = time.perf_counter()
        if event.type == "SECURE_MESSAGE_RECEIVED":
            key = (n, str(event.payload["peer"]), str(event.payload["id"]))
            if key in seen:
                L.emit("ERROR", {"error": f"member {indices[n]}: {key[2]} announced twice"})
                return
            seen.add(key)
            task = asyncio.ensure_future(report(n, dict(event.payload), now))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif event.type == "RELAY_MESSAGE_RECEIVED":
            quiet.heard()
            carried = event.payload.get("payload")
            envelope = carried.get("envelope") if isinstance(carried, dict) else None
            sizes[n][str(event.payload["relay_id"])] = (_size(carried),
                                                        len(envelope) if isinstance(envelope, str) else -1)
            while len(sizes[n]) > 4096:  # controls and keys are never reported: bounded
                sizes[n].pop(next(iter(sizes[n])))
        elif event.type == "PREKEYS_PUBLISHED":
            published.add(n)
        elif event.type == "RELAY_MESSAGE_SENT":
            pass
        elif event.type == "GROUP_CHANGED":
            if event.payload["change"] == "joined":
                joined.setdefault(str(event.payload["group"]), set()).add(n)
        else:
            L.emit("ERROR", {"error": f"member {indices[n]}: {event.type}: {dict(event.payload)}"})

    published: set[int] = set()
    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-groups-members-")
    try:
        for n in range(count):
            apps.append(await _boot(n, url, profiles, on_event))
        services.extend(_svc(app, "messaging") for app in apps)
        async with asyncio.timeout(120):
            while not (all(app.actors["signaling"].state == ["connected"] for app in apps)
                       and len(published) == count):
                await asyncio.sleep(0.01)
        L.emit("READY", {"users": [str(_svc(app, "identity").user_id) for app in apps]})
        for _ in range(1000):  # commands, bounded
            line = await L.read_line()
            if not line:
                return  # the parent went away
            command = json.loads(line)
            cmd = command["cmd"]
            if cmd == "reply":
                await asyncio.gather(*(services[indices.index(int(m))].send(command["to"], f"reply from {m}",
                                                                            message_id=message_id)
                                       for m, message_id in command["ids"].items()))
                L.emit("REPLIED", {})
            elif cmd == "joined":
                deadline = Deadline(30)
                wanted = {indices.index(m) for m in command["members"]}
                while not wanted <= joined.get(command["group"], set()) and not deadline.expired():
                    await asyncio.sleep(0.01)
                L.emit("JOINED", {"count": len(wanted & joined.get(command["group"], set()))})
            elif cmd == "quiet":
                await quiet.wait(apps)
                L.emit("QUIET", {"relayed": quiet.relayed})
            elif cmd == "check":
                mismatches, counted = [], 0
                for m, conversations in command["expect"].items():
                    for peer, bodies in conversations.items():
                        rows = await services[indices.index(int(m))].history(peer, limit=10_000)
                        got = [r["body"] for r in rows if r["direction"] == "in" and r["author"] == command["sender"]]
                        counted += len(got)
                        if got != bodies:
                            mismatches.append(f"member {m} in {peer}: {len(got)} rows, {len(bodies)} sent")
                L.emit("CHECKED", {"mismatches": mismatches, "counted": counted})
            elif cmd == "stop":
                return
    finally:
        for task in list(tasks):
            task.cancel()
        for app in apps:
            with contextlib.suppress(Exception):
                await app.shutdown(timeout=5)
        shutil.rmtree(profiles, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        try:
            asyncio.run(members_worker(json.loads(sys.argv[2])))
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(0)

    from _util import environment, markdown_table, parse_args

    cli = parse_args(__doc__.splitlines()[0])
    print(environment())
    began = time.perf_counter()
    summary = markdown_table(run(cli.quick))
    print(f"\n=== Summary ({'quick' if cli.quick else 'full'} mode, {time.perf_counter() - began:.0f} s) ===\n")
    print(summary)
    sys.exit(0)
