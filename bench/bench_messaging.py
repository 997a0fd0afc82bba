"""End-to-end encrypted latency beside unencrypted, through one relay process in one run.

1. **Unencrypted**: a sender's ``SignalingService.send`` -> the recipient's ``RELAY_MESSAGE_RECEIVED``
   handler (benchmark 1 of ``bench_relay.py``, its worker reused as is: apps with persistence,
   identity and signaling).
2. **Encrypted**: ``MessagingService.send(bob, text)`` (seal, store and queue in one SQLCipher
   transaction) -> bob's ``SECURE_MESSAGE_RECEIVED`` handler (opened, stored and acknowledged in
   one transaction). Each user is a booted app with persistence, identity, crypto, signaling and
   messaging, signed up as the tests do (``persistence.open(os.urandom(32), profile)`` then
   ``identity.create(name)``), connected, its prekeys published (``PREKEYS_PUBLISHED``). Each
   pair exchanges warm-up messages first (alice -> bob starts the X3DH session, bob answers, alice
   again), so the figure is per message on an established Double Ratchet session, one chain
   (no DH step: alice keeps sending, as in benchmark 1).

Both use the same relay (``python -m chatkernel.relay``, memory store, rate limits raised), the
same 20 pairs at chat pace (100-300 ms pauses after each arrival) and the same client-process
split, one after the other; both ends of a pair live in one client process (one perf_counter).
The encrypted run also stamps each message where it passes: ``send`` returned (the seal
transaction committed), signaling's ``RELAY_MESSAGE_RECEIVED`` at bob (relay and HTTP), and
``SECURE_MESSAGE_RECEIVED`` (the open transaction committed): where the time goes.

Everything binds and connects on 127.0.0.1; every loop is bounded in count and time; every
process is terminated (then killed) on the way out.

Run alone: ``.venv/bin/python bench/bench_messaging.py [--quick]`` (about 60 s; quick about 30 s).
One client process under cProfile: ``.venv/bin/python bench/bench_messaging.py --profile [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _relay_load as L
from _util import SummaryRow, percentile, print_header, text_table

TARGET_P50_S = 6e-3  # encrypted, 20 pairs at chat pace
PAIRS = 20
MAX_CLIENT_UTIL = 0.70  # above this share of one core the client itself distorts latency
MAX_CLIENT_PROCS = 5
SCRIPT = Path(__file__).resolve()
# The relay's idle keep-alive timeout (5 s) equals httpx's keep-alive expiry (5 s), so a request on
# a connection idle for ~5 s can meet the relay's close ("Server disconnected without sending a
# response"), and signaling does not retry a bundle fetch (not idempotent): a first message sent
# after booting 40 apps fails. A longer relay timeout keeps the benchmark off that race.
IDLE = ("--idle-timeout", "120")


@dataclass(frozen=True)
class Plan:
    one_pair: tuple[int, float]  # (messages, seconds), 1 pair at chat pace
    many: tuple[int, float]  # per pair, 20 pairs at chat pace


FULL = Plan(one_pair=(60, 14.0), many=(60, 14.0))
QUICK = Plan(one_pair=(10, 3.0), many=(10, 3.0))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ----------------------------------------------------------------------------------- parent side
@contextlib.asynccontextmanager
async def _secure_workers(arg_list: list[dict[str, Any]], ready_timeout: float) -> AsyncIterator[list[L.Worker]]:
    """Like ``_relay_load.workers``, with this file as the worker script; always stopped."""
    started: list[L.Worker] = []
    grace = 0.0
    try:
        for args in arg_list:
            proc = await asyncio.create_subprocess_exec(
                *L.orphan_guard(), sys.executable, str(SCRIPT), "--worker", json.dumps(args),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None, limit=64 * 1024 * 1024)
            started.append(L.Worker(proc, "secure"))
        for w in started:
            await w.expect("READY", ready_timeout)
        yield started
        grace = 2.0
    finally:
        await asyncio.gather(*(w.stop(grace) for w in started), return_exceptions=True)


async def _run(kind: str, relay: L.Managed, pairs: int, procs: int, messages: int, seconds: float,
               profile: Path | None = None) -> dict[str, Any]:
    """One latency run, ``kind`` "plain" (bench_relay's worker) or "secure" (this file's)."""
    counts = _split(pairs, procs)
    args = [{"url": relay.url, "pairs": n, "messages": messages, "seconds": seconds, "seed": i,
             "pair_base": sum(counts[:i]), "pace": list(L.SLOW_PACE_S)} for i, n in enumerate(counts)]
    if profile is not None:
        args[0]["profile"] = str(profile)
    if kind == "plain":
        context: Any = L.workers("latency", args, ready_timeout=90)
    else:
        context = _secure_workers(args, ready_timeout=120)
    async with context as entered:
        started = entered[0] if kind == "plain" else entered
        run = await L.go_and_measure(started, relay.pid, seconds + 40)
    results, relay_util, utils, others = (run[k] for k in ("results", "relay_util", "utils", "others"))
    samples = [s for r in results for s in r["samples"]]
    if not samples:
        raise RuntimeError(f"{kind}: no message arrived ({sum(r['lost'] for r in results)} lost)")
    spans = [s for r in results for s in r.get("spans", [])]
    return {"kind": kind, "pairs": pairs, "procs": procs, "n": len(samples),
            "lost": sum(r["lost"] for r in results), "p50": percentile(samples, 50), "p99": percentile(samples, 99),
            "max": max(samples), "utils": utils, "relay_util": relay_util, "others": others,
            "rate": len(samples) / max(r["wall"] for r in results), "spans": spans,
            "errors": [e for r in results for e in r.get("errors", [])],
            "loop_cpu": sum(r.get("loop_cpu", 0.0) for r in results),
            "db_cpu": sum(r.get("db_cpu", 0.0) for r in results)}


def _span_table(*runs: dict[str, Any]) -> str:
    """Where an encrypted message's time goes, per run: the medians and 99th percentiles of each span."""
    names = ("seal tx (send returned)", "relay + HTTP (to bob's RELAY_MESSAGE_RECEIVED)",
             "open tx (to SECURE_MESSAGE_RECEIVED)")
    rows = []
    for i, name in enumerate(names):
        cells: list[str] = []
        for r in runs:
            values = [s[i] for s in r["spans"]]
            cells += [_ms(percentile(values, 50)), _ms(percentile(values, 99))] if values else ["", ""]
        rows.append((name, *cells))
    headers = ["encrypted span"]
    for r in runs:
        headers += [f"p50, {r['pairs']} pair(s)", f"p99, {r['pairs']} pair(s)"]
    return text_table(headers, rows)


async def _all(plan: Plan) -> list[SummaryRow]:
    with L.scratch_dir() as workdir, L.relay_process("memory", *IDLE, workdir=workdir) as relay:
        print(f"\n-- 1 pair, then {PAIRS} pairs at chat pace ({L.SLOW_PACE_S[0] * 1e3:.0f}-"
              f"{L.SLOW_PACE_S[1] * 1e3:.0f} ms pauses), one relay process (memory store)", flush=True)
        plain_one = await _run("plain", relay, 1, 1, *plan.one_pair)
        secure_one = await _run("secure", relay, 1, 1, *plan.one_pair)
        runs = [await _run("secure", relay, PAIRS, 1, *plan.many)]
        util = max(runs[-1]["utils"])
        procs = 1
        if util > MAX_CLIENT_UTIL:
            procs = min(MAX_CLIENT_PROCS, max(2, math.ceil(sum(runs[-1]["utils"]) / (MAX_CLIENT_UTIL / 2))))
            print(f"   one encrypted client process ran at {util:.0%} of a core (> {MAX_CLIENT_UTIL:.0%}): "
                  f"splitting the {PAIRS} pairs over {procs} client processes, both kinds", flush=True)
            runs.append(await _run("secure", relay, PAIRS, procs, *plan.many))
        secure = runs[-1]
        plain = await _run("plain", relay, PAIRS, procs, *plan.many)

    table = []
    for r in (plain_one, secure_one, plain, *runs):
        what = "encrypted (messaging)" if r["kind"] == "secure" else "unencrypted (signaling)"
        table.append((f"{what}, {r['pairs']} pair(s), {r['procs']} client proc(s)", r["n"], r["lost"],
                      _ms(r["p50"]), _ms(r["p99"]), _ms(r["max"]), f"{r['rate']:.0f}",
                      " ".join(f"{u:.0%}" for u in r["utils"]), f"{r['relay_util']:.0%}", f"{r['others']:.2f}"))
    print(text_table(("path", "samples", "lost", "p50", "p99", "max", "msg/s", "client CPU/core", "relay CPU",
                      "others"), table))
    print(f"   others = cores used meanwhile by everything else on the machine's {os.cpu_count()} (other "
          f"processes, hypervisor steal): above ~0.2 the figures are disturbed; run again")
    print(_span_table(secure_one, secure))
    cost = sum(secure["utils"]) / secure["rate"] * 1e3
    plain_cost = sum(plain["utils"]) / plain["rate"] * 1e3
    loop_ms, db_ms = secure["loop_cpu"] / secure["n"] * 1e3, secure["db_cpu"] / secure["n"] * 1e3
    print(f"   client CPU per message: encrypted {cost:.1f} ms ({loop_ms:.1f} ms on the event loops, {db_ms:.1f} ms "
          f"on the database threads), unencrypted {plain_cost:.1f} ms (both ends, {PAIRS} pairs); "
          f"at {secure['rate']:.0f} msg/s that is {sum(secure['utils']):.1f} of {os.cpu_count()} cores")
    print("   on the encrypted path two SQLCipher transactions commit one after another (seal + outbox + message "
          "row; open + store + acknowledge), each with PRAGMA synchronous=FULL (an fsync)")
    for error in secure["errors"][:5] + secure_one["errors"][:5]:
        print(f"   error: {error}")
    ratio50, ratio99 = secure["p50"] / plain["p50"], secure["p99"] / plain["p99"]
    met = secure["p50"] <= TARGET_P50_S
    print(f"   encrypted / unencrypted ({PAIRS} pairs, same run): p50 {ratio50:.2f}x, p99 {ratio99:.2f}x; "
          f"1 pair: p50 {secure_one['p50'] / plain_one['p50']:.2f}x")
    print(f"   encrypted {PAIRS} pairs p50 {_ms(secure['p50'])} vs target {_ms(TARGET_P50_S)} = "
          f"{secure['p50'] / TARGET_P50_S:.2f}x: {'met' if met else 'missed'}")
    note = (f"chat pace, {secure['procs']} client proc(s), {secure['rate']:.0f} msg/s, "
            f"clients {sum(secure['utils']):.1f} cores, others {secure['others']:.2f}")
    return [
        SummaryRow("messaging e2e", "encrypted send -> SECURE_MESSAGE_RECEIVED, 1 pair: p50 / p99",
                   f"{_ms(secure_one['p50'])} / {_ms(secure_one['p99'])}",
                   f"unencrypted {_ms(plain_one['p50'])} / {_ms(plain_one['p99'])}",
                   secure_one["p50"] / plain_one["p50"], "informative"),
        SummaryRow("messaging e2e", f"encrypted, {PAIRS} pairs ({note}): p50", _ms(secure["p50"]), "target 6 ms",
                   secure["p50"] / TARGET_P50_S, "<= 1x", met),
        SummaryRow("messaging e2e", f"encrypted, {PAIRS} pairs: p99", _ms(secure["p99"]),
                   f"unencrypted p99 {_ms(plain['p99'])}", ratio99, "informative"),
        SummaryRow("messaging e2e", f"encrypted / unencrypted, {PAIRS} pairs, same run: p50",
                   f"{_ms(secure['p50'])} vs {_ms(plain['p50'])}", "unencrypted signaling.send", ratio50,
                   "informative"),
    ]


def run(quick: bool) -> list[SummaryRow]:
    print_header("encrypted messaging latency beside unencrypted signaling", quick)
    return L.run_terminable(lambda: _all(QUICK if quick else FULL))


async def profile_client(plan: Plan) -> None:
    """The 20-pair encrypted run with its one client process under cProfile."""
    with L.scratch_dir() as workdir, L.relay_process("memory", *IDLE, workdir=workdir) as relay:
        path = workdir / "client.prof"
        r = await _run("secure", relay, PAIRS, 1, *plan.many, profile=path)
        print(f"   {r['n']} messages, p50 {_ms(r['p50'])} under the profiler (it slows the client down)")
        print(_span_table(r))
        import pstats

        kept = Path(tempfile.gettempdir()) / "bench_messaging_client.prof"
        shutil.copyfile(path, kept)
        print(f"   profile kept at {kept} (python -m pstats {kept})")
        stats = pstats.Stats(str(kept))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


# ----------------------------------------------------------------------------------- worker side
def _thread_cpu() -> tuple[float, float]:
    """(the event loop's thread, every other thread: the profile databases' threads) CPU seconds."""
    main = others = 0.0
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / L.CLK_TCK
            if int(tid) == os.getpid():
                main += used
            else:
                others += used
    return main, others


async def secure_worker(args: dict[str, Any]) -> None:
    """Pairs of full-stack apps; messaging.send -> SECURE_MESSAGE_RECEIVED latency, with spans."""
    import features.crypto as crypto
    import features.identity as identity
    import features.messaging as messaging
    import features.persistence as persistence
    import features.signaling as signaling
    from chatkernel import Feature, MountResult, bootstrap

    url, pairs, messages, seconds = args["url"], args["pairs"], args["messages"], args["seconds"]
    base = args.get("pair_base", 0)
    pace = tuple(args.get("pace", L.SLOW_PACE_S))
    rng = random.Random(args.get("seed", 1))
    waiters: dict[str, asyncio.Future[float]] = {}
    relayed: dict[int, float] = {}  # app index -> when its last RELAY_MESSAGE_RECEIVED was handled
    published: set[int] = set()
    errors: list[str] = []

    def probe(index: int) -> Feature:
        def on_event(event: Any) -> None:
            now = time.perf_counter()
            if event.type == "SECURE_MESSAGE_RECEIVED":
                waiter = waiters.pop(event.payload["id"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
            elif event.type == "RELAY_MESSAGE_RECEIVED":
                relayed[index] = now
            elif event.type == "PREKEYS_PUBLISHED":
                published.add(index)
            elif len(errors) < 20:
                errors.append(f"{event.type}: {dict(event.payload)}")

        return Feature(id="probe", name="Latency probe", on_mount=lambda ctx: MountResult(handler=on_event),
                       subscribed_events=["SECURE_MESSAGE_RECEIVED", "RELAY_MESSAGE_RECEIVED", "PREKEYS_PUBLISHED",
                                          "FEATURE_ERROR", "UNREADABLE_MESSAGE", "SECURE_MESSAGE_FAILED"])

    apps: list[Any] = []
    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-messaging-")
    try:
        settings = {"persistence": {"profiles_dir": profiles}, "signaling": {"url": url, "poll_timeout_s": 25.0}}
        for n in range(2 * pairs):
            app = await bootstrap([persistence.feature, identity.feature, crypto.feature, signaling.feature,
                                   messaging.feature, probe(n)], settings=settings)
            apps.append(app)
            await app.registry.mount_result("persistence").service.open(os.urandom(32), f"user{n}")
            await app.registry.mount_result("identity").service.create(f"User {n}")
        services = [app.registry.mount_result("messaging").service for app in apps]
        users = [str(app.registry.mount_result("identity").service.user_id) for app in apps]
        async with asyncio.timeout(60):
            while not (all(app.actors["signaling"].state == ["connected"] for app in apps)
                       and len(published) == len(apps)):
                await asyncio.sleep(0.01)

        async def one(p: int, k: int, reverse: bool = False) -> tuple[float, float, float]:
            a, b = 2 * (p - base), 2 * (p - base) + 1
            if reverse:
                a, b = b, a
            message_id = uuid.uuid4().hex
            waiter = asyncio.get_running_loop().create_future()
            waiters[message_id] = waiter
            relayed.pop(b, None)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(5):
                    await services[a].send(users[b], f"bench message {p}/{k}: the quick brown fox",
                                           message_id=message_id)
                    sealed = time.perf_counter()
                    arrived = await waiter
            finally:
                waiters.pop(message_id, None)
            return arrived - started, sealed - started, relayed.get(b, arrived) - started

        # Warm-up: alice -> bob starts the X3DH session, bob answers (alice's next messages no
        # longer carry the prekey header), alice again; then the prekey refills settle.
        for k, reverse in ((-3, False), (-2, True), (-1, False)):
            await asyncio.gather(*(one(base + i, k, reverse) for i in range(pairs)))
        await asyncio.sleep(0.5)
        L.emit("READY", {"pairs": pairs})
        await L.read_line()

        samples: list[float] = []
        spans: list[tuple[float, float, float]] = []
        lost = 0
        deadline = time.monotonic() + seconds

        async def pair(p: int) -> None:
            nonlocal lost
            await asyncio.sleep(rng.uniform(*pace))
            for k in range(messages):
                if time.monotonic() >= deadline:
                    return
                try:
                    total, sealed, relayed_at = await one(p, k)
                except TimeoutError:
                    lost += 1
                else:
                    samples.append(total)
                    spans.append((sealed, relayed_at - sealed, total - relayed_at))
                await asyncio.sleep(rng.uniform(*pace))

        profiler = None
        if args.get("profile"):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu0, threads0, t0 = L.self_cpu(), _thread_cpu(), time.monotonic()
        await asyncio.gather(*(pair(base + i) for i in range(pairs)))
        cpu1, threads1, t1 = L.self_cpu(), _thread_cpu(), time.monotonic()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args["profile"])
        L.emit("RESULT", {"samples": samples, "spans": spans, "lost": lost, "cpu": cpu1 - cpu0, "wall": t1 - t0,
                          "loop_cpu": threads1[0] - threads0[0], "db_cpu": threads1[1] - threads0[1],
                          "errors": errors})
    finally:
        for app in apps:
            with contextlib.suppress(Exception):
                await app.shutdown(timeout=5)
        shutil.rmtree(profiles, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        try:
            asyncio.run(secure_worker(json.loads(sys.argv[2])))
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(0)

    import argparse

    from _util import environment, markdown_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 30 s)")
    parser.add_argument("--profile", action="store_true", help="only the 20-pair encrypted run, its client profiled")
    cli = parser.parse_args()
    if cli.profile:
        asyncio.run(profile_client(QUICK if cli.quick else FULL))
        sys.exit(0)
    print(environment())
    began = time.perf_counter()
    summary = markdown_table(run(cli.quick))
    print(f"\n=== Summary ({'quick' if cli.quick else 'full'} mode, {time.perf_counter() - began:.0f} s) ===\n")
    print(summary)
    sys.exit(0)
