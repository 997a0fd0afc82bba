"""The relay under load, in its own process: end-to-end latency, throughput, parked-poll memory.

1. **Latency** from a sender's ``SignalingService.send`` to the recipient's ``RELAY_MESSAGE_RECEIVED``
   handler, through the real signaling feature (each user a booted app that signs up first:
   persistence + identity) and a relay started as
   ``python -m chatkernel.relay`` (memory store, rate limits raised). Both ends of a pair live
   in one client process, so both stamps come from one ``perf_counter``. Messages are paced:
   a sender waits for its message to arrive, pauses, sends the next. With 1 and 20 pairs.
   The 20-pair targets are judged at chat pace (100-300 ms pauses), where the clients leave
   the machine mostly idle: the issue asks that the load generator not be the bottleneck.
   At the stress pace (10-30 ms pauses) each client process's CPU is measured, and if it
   exceeds 70 % of a core the pairs are split over several client processes; on a small
   machine the 40 client stacks still saturate it, so that run is reported, not judged.
   A raw-HTTP client (no httpx, no kernel) at the stress pace gives the relay's own share.
   Compared with the seed's design: poll with ``timeout=0``, sleep 1 s, repeat.
2. **Throughput** of one relay process (one uvicorn worker, memory store): raw keep-alive
   HTTP load generators in three processes, each with senders and long-poll receivers (a
   bounded number of messages in flight per pair); messages delivered per second, with the
   relay's and the generators' CPU from /proc. Then two relay processes sharing a throwaway
   redis-server: senders post to node A, receivers poll node B; msg/s, Redis round trips per
   message, and the cross-node latency at benchmark 1's pace.
3. **1,000 parked long polls**: the relay's RSS (VmRSS) before and after 1,000 users each
   park one poll on its own connection; each poll is then woken with one message to prove it
   was really parked.

Every table has an "others" column: cores used meanwhile by anything else on the machine
(other processes, hypervisor steal). Above ~0.2 the run was disturbed; run it again.

Everything binds and connects on 127.0.0.1; every loop is bounded in count and time; every
process is terminated (then killed) on the way out, errors and SIGINT/SIGTERM included, and
children get SIGTERM from the kernel if this process is killed outright (``setpriv``).

Run alone: ``.venv/bin/python bench/bench_relay.py [--quick]`` (about 90 s; quick about 40 s).
Where the relay's CPU goes: ``.venv/bin/python bench/bench_relay.py --profile-relay [--quick]``.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _relay_load as L
from _util import SummaryRow, percentile, print_header, text_table

TARGET_P50_S = 5e-3  # benchmark 1, 20 pairs
TARGET_P99_S = 25e-3
TARGET_MSG_S = 3_000.0  # benchmark 2, one worker, memory store
TARGET_CROSS_P50_S = 10e-3  # benchmark 2, Redis, across nodes
TARGET_PARKED_BYTES = 50_000_000  # benchmark 3: 50 MB
MB = 1_000_000
RESEARCH_RELAY_MSG_S = 3_400.0  # messaging.md 6.3: 100 pairs, uvloop + httptools, raw asyncio client
RESEARCH_PARKED_BYTES = 16 * 1024  # messaging.md 6.3: 5,000 parked polls ~ 81 MiB, ~16 KiB each
MAX_CLIENT_UTIL = 0.70  # above this share of one core the client itself distorts latency
MAX_CLIENT_PROCS = 5
GENERATOR_BOUND = 0.5  # share of the machine's cores busy above which a latency run measures the clients
LOAD_PROCS, LOAD_PAIRS, LOAD_WINDOW = 3, 16, 8  # generators, pairs per generator, in flight per pair
PARKED = 1_000
PARK_PROCS = 2


@dataclass(frozen=True)
class Plan:
    """How much each benchmark does: counts per pair and wall-clock bounds, seconds."""

    one_pair: tuple[int, float]  # (messages, seconds)
    probe: tuple[int, float]  # 20 pairs in one client process
    split: tuple[int, float]  # 20 pairs over several client processes
    slow: tuple[int, float]  # the same at chat pace (judged against the targets)
    raw: tuple[int, float]  # raw-HTTP client at the same pacing, per pair
    seed: tuple[int, int, float]  # (pairs, messages per pair, seconds)
    load_s: float  # throughput window, after a warm-up
    redis_load_s: float
    warmup_s: float
    redis_warmup_s: float  # longer: each node's Redis connection pool grows with the load


FULL = Plan(one_pair=(300, 12.0), probe=(25, 6.0), split=(150, 10.0), slow=(60, 14.0), raw=(400, 5.0),
            seed=(2, 10, 15.0), load_s=8.0, redis_load_s=6.0, warmup_s=1.0, redis_warmup_s=1.5)
QUICK = Plan(one_pair=(60, 2.0), probe=(10, 2.0), split=(30, 2.5), slow=(8, 2.0), raw=(200, 1.0),
             seed=(2, 3, 3.0), load_s=2.5, redis_load_s=2.5, warmup_s=0.5, redis_warmup_s=1.5)
PAIRS = 20


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _pct(values: list[float]) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 99)


def _client_ms_per_msg(r: dict[str, Any]) -> float:
    return sum(r["utils"]) / r["rate"] * 1e3


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ----------------------------------------------------------------------------------- 1. latency
async def _feature_run(relay: L.Managed, pairs: int, procs: int, messages: int, seconds: float,
                       pace: tuple[float, float] = L.PACE_S) -> dict[str, Any]:
    """One latency run through the signaling feature over ``procs`` client processes."""
    counts = _split(pairs, procs)
    args = [{"url": relay.url, "pairs": n, "messages": messages, "seconds": seconds, "seed": i,
             "pair_base": sum(counts[:i]), "pace": list(pace)} for i, n in enumerate(counts)]
    async with L.workers("latency", args, ready_timeout=60) as (started, _ready):
        run = await L.go_and_measure(started, relay.pid, seconds + 30)
    results, utils, relay_util = run["results"], run["utils"], run["relay_util"]
    samples = [s for r in results for s in r["samples"]]
    if not samples:
        raise RuntimeError(f"no message arrived ({sum(r['lost'] for r in results)} lost)")
    p50, p99 = _pct(samples)
    return {"pairs": pairs, "procs": procs, "pace": pace, "n": len(samples), "lost": sum(r["lost"] for r in results),
            "p50": p50, "p99": p99, "max": max(samples), "utils": utils, "relay_util": relay_util,
            "others": run["others"],
            "rate": len(samples) / max(r["wall"] for r in results)}


async def _raw_paced(relay: L.Managed, pairs: int, messages: int, seconds: float,
                     poll_relay: L.Managed | None = None) -> dict[str, Any]:
    """Benchmark 1's pacing with the raw client (window 1), optionally polling another node."""
    poll_relay = poll_relay or relay
    args = [{"send_port": relay.port, "poll_port": poll_relay.port, "pairs": pairs, "window": 1,
             "max_per_pair": messages, "pace": list(L.PACE_S)}]
    async with L.workers("load", args, ready_timeout=60) as (started, _ready):
        begin = time.monotonic() + 0.05
        started[0].tell(f"GO {begin} {begin + seconds}")
        nodes = [relay] if poll_relay is relay else [relay, poll_relay]
        await L.sleep_until(begin)
        relay0, machine0 = [L.cpu_seconds(n.pid) for n in nodes], L.machine_cpu()
        await L.sleep_until(begin + seconds)
        relay1, machine1 = [L.cpu_seconds(n.pid) for n in nodes], L.machine_cpu()
        (result,) = [await w.expect("RESULT", 30) for w in started]
    if result["errors"] or not result["latencies"]:
        raise RuntimeError(f"raw paced run failed: {result['errors']}")
    p50, p99 = _pct(result["latencies"])
    relay_util = (sum(relay1) - sum(relay0)) / seconds
    util = result["cpu"] / result["wall"]
    return {"n": result["received"], "p50": p50, "p99": p99, "util": util, "relay_util": relay_util,
            "others": L.others_cores(machine0, machine1, seconds, util + relay_util),
            "nodes": [(b - a) / seconds for a, b in zip(relay0, relay1)], "rate": result["received"] / result["wall"],
            "lost": result["undelivered"]}


async def bench_latency(plan: Plan, workdir: Path) -> list[SummaryRow]:
    print("\n-- 1. end-to-end latency: SignalingService.send -> RELAY_MESSAGE_RECEIVED (relay in its own process)")
    with L.relay_process("memory", workdir=workdir) as relay:
        one = await _feature_run(relay, 1, 1, *plan.one_pair)
        runs = [await _feature_run(relay, PAIRS, 1, *plan.probe)]
        util = max(runs[-1]["utils"])
        if util > MAX_CLIENT_UTIL:
            procs = min(MAX_CLIENT_PROCS, max(2, math.ceil(sum(runs[-1]["utils"]) / (MAX_CLIENT_UTIL / 2))))
            print(f"   one client process ran at {util:.0%} of a core (> {MAX_CLIENT_UTIL:.0%}): "
                  f"splitting the {PAIRS} pairs over {procs} client processes")
            runs.append(await _feature_run(relay, PAIRS, procs, *plan.split))
        many = runs[-1]
        slow = await _feature_run(relay, PAIRS, many["procs"], *plan.slow, pace=L.SLOW_PACE_S)
        raw_one = await _raw_paced(relay, 1, *plan.raw)
        raw_many = await _raw_paced(relay, PAIRS, *plan.raw)
        pairs_s, msgs_s, secs_s = plan.seed
        seed = await L.seed_poller(relay.url, pairs_s, msgs_s, secs_s)
    if not seed["samples"]:
        raise RuntimeError("the seed-design client received nothing")
    seed_p50, seed_p99 = _pct(seed["samples"])

    table = []
    for r in [one, *runs, slow]:
        slow_note = ", chat pace" if r is slow else ""
        table.append((f"feature, {r['pairs']} pair(s), {r['procs']} client proc(s){slow_note}", r["n"], r["lost"],
                      _ms(r["p50"]), _ms(r["p99"]), _ms(r["max"]), f"{r['rate']:.0f}",
                      " ".join(f"{u:.0%}" for u in r["utils"]), f"{r['relay_util']:.0%}",
                      f"{sum(r['utils']) + r['relay_util']:.2f}", f"{r['others']:.2f}"))
    for name, r in (("raw HTTP client, 1 pair", raw_one), (f"raw HTTP client, {PAIRS} pairs", raw_many)):
        table.append((name, r["n"], r["lost"], _ms(r["p50"]), _ms(r["p99"]), "", f"{r['rate']:.0f}", f"{r['util']:.0%}",
                      f"{r['relay_util']:.0%}", f"{r['util'] + r['relay_util']:.2f}", f"{r['others']:.2f}"))
    table.append((f"seed design (poll timeout=0 + sleep 1 s), {pairs_s} pairs", len(seed["samples"]), seed["lost"],
                  _ms(seed_p50), _ms(seed_p99), _ms(max(seed["samples"])), "", "", "", "", ""))
    print(text_table(("client", "samples", "lost", "p50", "p99", "max", "msg/s", "client CPU/core", "relay CPU",
                      "cores busy", "others"), table))
    print(f"   cores busy = client processes + relay, of the machine's {os.cpu_count()}; others = cores used "
          f"meanwhile by everything else (other processes, hypervisor steal): above ~0.2 the figures are "
          f"disturbed. A feature message costs its client process {_client_ms_per_msg(many):.1f} ms of CPU "
          f"({PAIRS} pairs), mostly httpx")
    print(f"   pacing: after each arrival the sender pauses {L.PACE_S[0] * 1e3:.0f}-{L.PACE_S[1] * 1e3:.0f} ms; "
          f"'chat pace' {L.SLOW_PACE_S[0] * 1e3:.0f}-{L.SLOW_PACE_S[1] * 1e3:.0f} ms (the clients do not "
          f"saturate the machine, so the targets are judged there); the seed client pauses 0-1 s so "
          f"sends fall at random phases of its poll period")
    print(f"   seed / ours (1 pair): p50 {seed_p50 / one['p50']:.0f}x, p99 {seed_p99 / one['p99']:.0f}x; "
          f"seed / ours ({PAIRS} pairs): p50 {seed_p50 / many['p50']:.0f}x, p99 {seed_p99 / many['p99']:.0f}x")
    print(f"   the relay's own share (raw client, {PAIRS} pairs): p50 {_ms(raw_many['p50'])}; the rest of the "
          f"feature's latency is client work (httpx + kernel bus) in the client process")

    # The targets are judged where the load generator is not the bottleneck, as the issue asks:
    # at chat pace. At the stress pace the 40 client stacks alone need most of this machine's
    # cores, so the latency measured there is CPU queueing in the clients (reported, not judged).
    judged, stress = slow, many
    busy = sum(judged["utils"]) + judged["relay_util"]
    if busy > GENERATOR_BOUND * (os.cpu_count() or 1):
        print(f"   warning: even at chat pace {busy:.1f} cores were busy: the clients may distort the figures")
    print(f"   {PAIRS} pairs at chat pace vs targets: p50 {_ms(judged['p50'])} / {_ms(TARGET_P50_S)} = "
          f"{judged['p50'] / TARGET_P50_S:.2f}x, p99 {_ms(judged['p99'])} / {_ms(TARGET_P99_S)} = "
          f"{judged['p99'] / TARGET_P99_S:.2f}x")
    judged_note = (f"chat pace, {judged['rate']:.0f} msg/s, {judged['procs']} client procs, "
                   f"{busy:.1f} of {os.cpu_count()} cores busy")
    stress_note = (f"{stress['rate']:.0f} msg/s, {stress['procs']} client procs <= {max(stress['utils']):.0%} CPU "
                   f"each, {sum(stress['utils']) + stress['relay_util']:.1f} of {os.cpu_count()} cores busy: "
                   f"generator-bound")
    return [
        SummaryRow("relay e2e", "feature send -> RELAY_MESSAGE_RECEIVED, 1 pair: p50 / p99",
                   f"{_ms(one['p50'])} / {_ms(one['p99'])}", "target p50 5 ms", one["p50"] / TARGET_P50_S,
                   "informative"),
        SummaryRow("relay e2e", f"feature, {PAIRS} pairs ({judged_note}): p50",
                   _ms(judged["p50"]), "target 5 ms", judged["p50"] / TARGET_P50_S, "<= 1x",
                   judged["p50"] <= TARGET_P50_S),
        SummaryRow("relay e2e", f"feature, {PAIRS} pairs (chat pace): p99", _ms(judged["p99"]), "target 25 ms",
                   judged["p99"] / TARGET_P99_S, "<= 1x", judged["p99"] <= TARGET_P99_S),
        SummaryRow("relay e2e", f"feature, {PAIRS} pairs at stress pace ({stress_note}): p50 / p99",
                   f"{_ms(stress['p50'])} / {_ms(stress['p99'])}", "target p50 5 ms",
                   stress["p50"] / TARGET_P50_S, "informative"),
        SummaryRow("relay e2e", f"relay only (raw HTTP client), {PAIRS} pairs: p50 / p99",
                   f"{_ms(raw_many['p50'])} / {_ms(raw_many['p99'])}", "target p50 5 ms",
                   raw_many["p50"] / TARGET_P50_S, "informative"),
        SummaryRow("relay e2e", "seed design (1 s polling): p50 / p99 (ratio = seed / ours, 1 pair p50)",
                   f"{_ms(seed_p50)} / {_ms(seed_p99)}", "ours, 1 pair", seed_p50 / one["p50"], "informative"),
    ]


# ----------------------------------------------------------------------------------- 2. throughput
async def _load_run(send: L.Managed, poll: L.Managed, seconds: float, warmup: float, procs: int = LOAD_PROCS,
                    pairs: int = LOAD_PAIRS, window: int = LOAD_WINDOW, redis: L.Managed | None = None
                    ) -> dict[str, Any]:
    """Closed-loop raw-HTTP load; counts deliveries inside the window, CPU of every process."""
    args = [{"send_port": send.port, "poll_port": poll.port, "pairs": pairs, "window": window,
             "max_per_pair": 1_000_000, "seed": i} for i in range(procs)]
    relays = [send] if send is poll else [send, poll]
    async with L.workers("load", args, ready_timeout=60) as (started, _ready):
        begin = time.monotonic() + warmup
        end = begin + seconds
        for w in started:
            w.tell(f"GO {begin} {end}")
        await L.sleep_until(begin)
        cpu0, machine0 = [L.cpu_split(r.pid) for r in relays], L.machine_cpu()
        redis0 = L.cpu_seconds(redis.pid) if redis is not None else 0.0
        commands0 = _redis_commands(redis) if redis is not None else (0, 0)
        await L.sleep_until(end)
        cpu1, machine1 = [L.cpu_split(r.pid) for r in relays], L.machine_cpu()
        redis1 = L.cpu_seconds(redis.pid) if redis is not None else 0.0
        commands1 = _redis_commands(redis) if redis is not None else (0, 0)
        results = [await w.expect("RESULT", 30) for w in started]
    errors = [e for r in results for e in r["errors"]]
    if errors:
        raise RuntimeError(f"load generator errors: {errors}")
    latencies = [x for r in results for x in r["latencies"]]
    ours = (sum(b[0] + b[1] - a[0] - a[1] for a, b in zip(cpu0, cpu1)) + redis1 - redis0
            + sum(r["cpu"] for r in results)) / seconds
    return {
        "others": L.others_cores(machine0, machine1, seconds, ours),
        "msg_s": sum(r["received"] for r in results) / seconds,
        "send_s": sum(r["sent"] for r in results) / seconds,
        "relay_user": [(b[0] - a[0]) / seconds for a, b in zip(cpu0, cpu1)],
        "relay_sys": [(b[1] - a[1]) / seconds for a, b in zip(cpu0, cpu1)],
        "gen": [r["cpu"] / r["wall"] for r in results],
        "redis": (redis1 - redis0) / seconds,
        "round_trips": commands1[0] - commands0[0], "publishes": commands1[1] - commands0[1],
        "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
        "in_flight": procs * pairs * window, "procs": procs, "pairs": pairs, "window": window,
    }


def _redis_commands(redis: L.Managed) -> tuple[int, int]:
    """(round trips from the relays, PUBLISHes) so far, from redis-server's commandstats.

    Calls made inside the append script are counted there too: each EVALSHA of a new message
    runs GET, XLEN, XADD, SET and PUBLISH, which are not round trips.
    """
    import redis as redis_py

    client = redis_py.Redis(host=L.HOST, port=redis.port, socket_timeout=5)
    try:
        stats = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}
    finally:
        client.close()
    scripts = stats.get("evalsha", 0)
    return sum(stats.values()) - 5 * scripts - stats.get("info", 0), stats.get("publish", 0)


def _cpu_text(r: dict[str, Any]) -> str:
    relay = ", ".join(f"{u + s:.0%} ({u:.0%} user)" for u, s in zip(r["relay_user"], r["relay_sys"]))
    return relay + (f"; redis-server {r['redis']:.0%}" if r["redis"] else "")


async def bench_throughput(plan: Plan, workdir: Path) -> list[SummaryRow]:
    print("\n-- 2. throughput: messages delivered per second (raw keep-alive HTTP load generators)")
    with L.relay_process("memory", workdir=workdir) as relay:
        mem = await _load_run(relay, relay, plan.load_s, plan.warmup_s)
    redis_rows: list[SummaryRow] = []
    red: dict[str, Any] | None = None
    cross: dict[str, Any] | None = None
    with L.redis_process(workdir) as redis:
        if redis is None:
            print("   redis-server not found: the two-node Redis leg is skipped")
        else:
            spec = f"redis://{L.HOST}:{redis.port}/0?prefix=bench:"
            with L.relay_process(spec, workdir=workdir) as node_a, L.relay_process(spec, workdir=workdir) as node_b:
                red = await _load_run(node_a, node_b, plan.redis_load_s, plan.redis_warmup_s, redis=redis)
                cross = await _raw_paced(node_a, PAIRS, *plan.raw, poll_relay=node_b)

    table = [("one relay, memory store", f"{mem['msg_s']:,.0f}", f"{mem['send_s']:,.0f}", _ms(mem["p50"]),
              _cpu_text(mem), " ".join(f"{g:.0%}" for g in mem["gen"]), mem["in_flight"], f"{mem['others']:.2f}")]
    if red is not None:
        table.append(("Redis, send on A -> poll on B", f"{red['msg_s']:,.0f}", f"{red['send_s']:,.0f}",
                      _ms(red["p50"]), _cpu_text(red), " ".join(f"{g:.0%}" for g in red["gen"]),
                      red["in_flight"], f"{red['others']:.2f}"))
    print(text_table(("case", "delivered msg/s", "sent msg/s", "p50 under load", "relay CPU (A, B)",
                      "generator CPU/core", "in flight", "others"), table))
    print(f"   {mem['procs']} generator processes x {mem['pairs']} sender/poller pairs, at most {mem['window']} "
          f"messages in flight per pair (closed loop: latency under load is queueing, Little's law)")
    relay_total = mem["relay_user"][0] + mem["relay_sys"][0]
    per_msg = relay_total / mem["msg_s"]
    print(f"   one worker vs target: {mem['msg_s']:,.0f} / {TARGET_MSG_S:,.0f} msg/s = "
          f"{mem['msg_s'] / TARGET_MSG_S:.2f}x; vs research 6.3 (uvloop + httptools, 100 pairs): "
          f"{mem['msg_s'] / RESEARCH_RELAY_MSG_S:.2f}x")
    print(f"   the relay spends {per_msg * 1e6:.0f} µs of CPU per delivered message (a /send each, a share of a "
          f"/poll), which caps one worker at ~{1 / per_msg:,.0f} msg/s on one core of this machine")
    if cross is not None and red is not None:
        delivered = red["msg_s"] * plan.redis_load_s
        node_cpu = [u + s for u, s in zip(red["relay_user"], red["relay_sys"])]
        print(f"   Redis: {red['round_trips'] / delivered:.1f} Redis round trips and "
              f"{red['publishes'] / delivered:.1f} PUBLISHes (each read by every node) per delivered message; "
              "relay CPU per message: "
              + ", ".join(f"{c / red['msg_s'] * 1e6:.0f} µs" for c in node_cpu) + " (A, B)")
        print(f"   across nodes at benchmark 1's pacing ({PAIRS} pairs, raw client, {cross['rate']:.0f} msg/s): "
              f"p50 {_ms(cross['p50'])}, p99 {_ms(cross['p99'])} vs target p50 {_ms(TARGET_CROSS_P50_S)} = "
              f"{cross['p50'] / TARGET_CROSS_P50_S:.2f}x; relay CPU A {cross['nodes'][0]:.0%}, "
              f"B {cross['nodes'][1]:.0%}")
        redis_rows = [
            SummaryRow("relay throughput", "2 nodes + Redis, send on A -> poll on B", f"{red['msg_s']:,.0f} msg/s",
                       "one node, memory store", red["msg_s"] / mem["msg_s"], "informative"),
            SummaryRow("relay e2e", f"across nodes via Redis, {PAIRS} paced pairs (raw client): p50",
                       _ms(cross["p50"]), "target 10 ms", cross["p50"] / TARGET_CROSS_P50_S, "<= 1x",
                       cross["p50"] <= TARGET_CROSS_P50_S),
        ]
    gen_max = max(mem["gen"])
    return [
        SummaryRow("relay throughput", f"one worker, memory store (relay CPU {relay_total:.0%}, "
                   f"generators max {gen_max:.0%})", f"{mem['msg_s']:,.0f} msg/s", "target 3,000 msg/s",
                   mem["msg_s"] / TARGET_MSG_S, ">= 1x", mem["msg_s"] >= TARGET_MSG_S),
        *redis_rows,
    ]


# ----------------------------------------------------------------------------------- 3. parked polls
async def _settle(pid: int, seconds: float = 5.0) -> None:
    """Wait until the relay is idle (< 10 ms CPU per 200 ms), bounded."""
    end = time.monotonic() + seconds
    last = L.cpu_seconds(pid)
    while time.monotonic() < end:
        await asyncio.sleep(0.2)
        now = L.cpu_seconds(pid)
        if now - last < 0.01:
            return
        last = now


async def bench_parked(plan: Plan, workdir: Path) -> list[SummaryRow]:
    print(f"\n-- 3. {PARKED:,} parked long polls: relay RSS")
    with L.relay_process("memory", workdir=workdir) as relay:
        idle = L.rss_bytes(relay.pid)
        args = [{"port": relay.port, "users": n, "timeout": 25} for n in _split(PARKED, PARK_PROCS)]
        async with L.workers("park", args, ready_timeout=60) as (started, _ready):
            await _settle(relay.pid)
            before = L.rss_bytes(relay.pid)
            sockets_before = L.open_sockets(relay.pid)
            for w in started:
                w.tell("PARK")
            parked = [await w.expect("PARKED", 30) for w in started]
            await _settle(relay.pid)
            after = L.rss_bytes(relay.pid)
            sockets = L.open_sockets(relay.pid) - sockets_before
            for w in started:
                w.tell("RELEASE")
            results = [await w.expect("RESULT", 60) for w in started]
    delivered = sum(r["delivered"] for r in results)
    early = sum(r["answered_early"] for r in results)
    failures = [f for r in results for f in r["failures"]]
    if failures or early or delivered != PARKED:
        raise RuntimeError(f"parked polls misbehaved: delivered {delivered}/{PARKED}, answered early {early}, "
                           f"failures {failures}, parked {parked}")
    grown = after - before
    print(text_table(("relay RSS (VmRSS)", "MB"), [
        ("idle, just started", f"{idle / MB:.1f}"),
        (f"after {PARKED:,} users connected (before parking)", f"{before / MB:.1f}"),
        (f"with {PARKED:,} polls parked ({sockets:,} new sockets)", f"{after / MB:.1f}"),
        ("increment for the parked polls", f"{grown / MB:.1f}"),
    ]))
    per_poll = grown / PARKED
    wake = max(r["all_delivered_s"] for r in results)
    print(f"   increment {grown / MB:.1f} MB vs 50 MB = {grown / TARGET_PARKED_BYTES:.2f}x "
          f"({per_poll / 1024:.1f} KiB per parked poll: connection + request + waiter; research 6.3: ~16 KiB); "
          f"whole process {after / MB:.1f} MB vs 50 MB = {after / TARGET_PARKED_BYTES:.2f}x "
          f"(of which {idle / MB:.1f} MB is the idle relay: interpreter, uvicorn, Starlette, cryptography)")
    print(f"   every poll was parked: none answered before the release; one message to each woke all "
          f"{delivered:,} in {wake * 1e3:.0f} ms (sequential sends over {PARK_PROCS} connections)")
    return [
        SummaryRow("relay memory", f"{PARKED:,} parked polls: RSS increment ({per_poll / 1024:.1f} KiB/poll)",
                   f"{grown / MB:.1f} MB", "target 50 MB", grown / TARGET_PARKED_BYTES, "<= 1x",
                   grown <= TARGET_PARKED_BYTES),
        SummaryRow("relay memory", f"{PARKED:,} parked polls: relay RSS, whole process", f"{after / MB:.1f} MB",
                   "50 MB", after / TARGET_PARKED_BYTES, "informative"),
    ]


# ----------------------------------------------------------------------------------- entry points
async def _all(plan: Plan) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    with L.scratch_dir() as workdir:
        for bench in (bench_latency, bench_throughput, bench_parked):
            started = time.perf_counter()
            rows += await bench(plan, workdir)
            print(f"   [{time.perf_counter() - started:.1f} s]", flush=True)
    return rows


def run(quick: bool) -> list[SummaryRow]:
    print_header("relay in its own process: latency, throughput, parked polls", quick)
    return L.run_terminable(lambda: _all(QUICK if quick else FULL))


async def profile_relay(plan: Plan) -> None:
    """Benchmark 2's memory-store load against a relay running under cProfile: where its CPU goes."""
    print("\n-- relay under cProfile, benchmark 2's load (memory store)")
    with L.scratch_dir() as workdir:
        path = workdir / "relay.prof"
        with L.relay_process("memory", workdir=workdir, profile=path) as relay:
            result = await _load_run(relay, relay, plan.load_s, plan.warmup_s)
        print(f"   {result['msg_s']:,.0f} msg/s under the profiler (it slows the relay down)")
        print(L.profile_summary(path))


if __name__ == "__main__":
    import argparse

    from _util import environment, markdown_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 40 s)")
    parser.add_argument("--profile-relay", action="store_true",
                        help="only profile the relay (cProfile) under benchmark 2's load, and say where its CPU goes")
    args = parser.parse_args()
    if args.profile_relay:
        asyncio.run(profile_relay(QUICK if args.quick else FULL))
        sys.exit(0)
    print(environment())
    started = time.perf_counter()
    table = markdown_table(run(args.quick))
    print(f"\n=== Summary ({'quick' if args.quick else 'full'} mode, {time.perf_counter() - started:.0f} s) ===\n")
    print(table)
    sys.exit(0)
