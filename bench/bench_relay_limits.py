"""What shared rate limits cost: one relay on the Redis store, limits in-process vs in Redis.

Two relay processes on one throwaway redis-server (each under its own key prefix), started the
same way and differing only in ``RedisStore(shared_limits=...)``: one counts limits in its own
memory (what a single node needs, and what let a client have its burst once per node), the
other charges every request with one EVALSHA of the GCRA script (what several nodes need).
Limits are set far above the load, so no request is refused and both relays do the same work
apart from the limiter.

The same request mix goes to each: per user pair a ``/send``, a ``/poll`` (``timeout=0``,
acknowledging), and every tenth request one with an unknown token (401, charged to the
address). First one keep-alive connection, one request at a time: the latency a request pays.
Then 8 connections at once: the cost under load. The two relays take turns in short rounds
(order alternating), so a disturbance of the machine lands on both; every figure is printed
beside its peer from the same run. Redis commands per request come from redis-server's own
counters (commands run inside scripts included). "others" is the cores that anything else on
the machine used meanwhile; above ~0.2 the run was disturbed: run it again.

Everything binds and connects on 127.0.0.1; loops are bounded in count and time; every child
process is terminated (then killed) on the way out.

Run alone: ``.venv/bin/python bench/bench_relay_limits.py [--quick]`` (about 25 s; quick 8 s).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import _relay_load as L
from _util import Deadline, SummaryRow, parse_args, percentile, print_header, text_table

# Far above the load: the limiter runs on every request but never refuses one.
LIMITS = {"rate_per_user": 1e5, "burst_per_user": 1e6, "rate_per_address": 1e5, "burst_per_address": 1e6}
VARIANTS = ("in-process", "shared")
CONCURRENT = 8


@dataclass(frozen=True)
class Plan:
    rounds: int
    per_round: int  # requests per round, sequential
    warmup: int
    load_s: float  # seconds per variant per round, concurrent
    seconds: float  # bound on each sequential round


FULL = Plan(rounds=6, per_round=800, warmup=300, load_s=1.0, seconds=5.0)
QUICK = Plan(rounds=2, per_round=300, warmup=100, load_s=0.5, seconds=3.0)


# ----------------------------------------------------------------------------------- the relay
def serve(args: dict[str, Any]) -> int:
    """A relay on the Redis store, served like the CLI serves it, limits shared or not."""
    from chatkernel._logging import configure_logging
    from chatkernel.relay import RedisStore, RelayConfig
    from chatkernel.relay._app import create_app
    from chatkernel.relay._server import build_server

    configure_logging("warning")
    store = RedisStore(args["url"], prefix=args["prefix"], shared_limits=args["shared"])

    async def main() -> int:
        await store.open()
        try:
            server = build_server(create_app(RelayConfig(**LIMITS), store=store), host=L.HOST, port=args["port"],
                                  embedded=False, log_level="warning")
            await server.serve()
            return 0
        finally:
            await store.close()

    return asyncio.run(main())


def _relay(redis_url: str, shared: bool, workdir: Any) -> L.Managed:
    port = L.free_port()
    spec = {"url": redis_url, "prefix": f"bench-{'shared' if shared else 'local'}:", "shared": shared, "port": port}
    return L.Managed([sys.executable, __file__, "serve", json.dumps(spec)], port, workdir / f"relay-{port}.log",
                     probe=b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def _redis_calls(redis: L.Managed) -> tuple[int, int]:
    """(commands Redis executed, EVALSHAs among them) so far, from its commandstats; commands
    run inside scripts are counted too (a new message's append runs 5, the limiter 3)."""
    import redis as redis_py

    client = redis_py.Redis(host=L.HOST, port=redis.port, socket_timeout=5)
    try:
        stats = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}
    finally:
        client.close()
    return sum(v for k, v in stats.items() if k not in ("info", "scan")), stats.get("evalsha", 0)


# ----------------------------------------------------------------------------------- the mix
class Mix:
    """Two users on one connection: send, poll (acknowledging), and now and then a bad token."""

    def __init__(self, http: L.RawHTTP, port: int, users: list[tuple[str, str]]):
        self.http = http
        self.port = port
        self.users = users
        self.cursors: dict[str, str | None] = {u: None for u, _ in users}
        self.step = 0
        self.refused = 0

    @classmethod
    async def open(cls, port: int) -> Mix:
        http = await L.RawHTTP.open(port)
        return cls(http, port, await L.connect_users(http, 2))

    async def reconnect(self) -> None:
        """A fresh connection before each timed phase: the relay closes idle keep-alive ones."""
        await self.http.close()
        self.http = await L.RawHTTP.open(self.port)

    async def one(self) -> float:
        """One request of the mix; its latency in seconds."""
        k = self.step
        self.step += 1
        (me, token), (peer, _) = self.users[k // 2 % 2], self.users[1 - k // 2 % 2]
        started = time.perf_counter()
        try:
            if k % 10 == 9:
                await self.http.post("/poll", {"userId": me, "timeout": 0}, "unknown-token")
            elif k % 2 == 0:
                await self.http.post("/send", {"from": me, "to": peer, "id": f"m{k}", "payload": "ciphertext"}, token)
            else:
                body: dict[str, Any] = {"userId": me, "timeout": 0}
                if self.cursors[me] is not None:
                    body["since"] = self.cursors[me]
                events = await self.http.post("/poll", body, token)
                if events:
                    self.cursors[me] = events[-1]["id"]
        except L.RelayHTTPError as exc:
            if exc.status == 429:
                self.refused += 1
            elif exc.status != 401 or k % 10 != 9:
                raise
        return time.perf_counter() - started


async def _sequential(mix: Mix, n: int, seconds: float) -> list[float]:
    deadline = Deadline(seconds)
    out: list[float] = []
    while len(out) < n and not deadline.expired():
        out.append(await mix.one())
    return out


async def _concurrent(mixes: list[Mix], seconds: float) -> tuple[list[float], float]:
    """All connections at once for ``seconds``: (latencies, requests per second)."""
    deadline = Deadline(seconds)
    latencies: list[float] = []

    async def drive(mix: Mix) -> None:
        for _ in range(1_000_000):  # bounded by count as well as by the deadline
            if deadline.expired():
                return
            latencies.append(await mix.one())

    started = time.perf_counter()
    await asyncio.gather(*(drive(m) for m in mixes))
    return latencies, len(latencies) / (time.perf_counter() - started)


def _ours(pids: list[int]) -> float:
    return L.self_cpu() + sum(L.cpu_seconds(pid) for pid in pids)


def _machine() -> float:
    busy, steal = L.machine_cpu()
    return busy + steal


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


async def _bench(plan: Plan) -> list[SummaryRow]:
    with L.scratch_dir() as workdir, L.redis_process(workdir) as redis:
        if redis is None:
            print("   redis-server is not installed: skipped")
            return []
        url = f"redis://{L.HOST}:{redis.port}/0"
        relays: dict[str, L.Managed] = {}
        mixes: dict[str, list[Mix]] = {}
        try:
            for name in VARIANTS:
                relays[name] = _relay(url, name == "shared", workdir)
            for name, relay in relays.items():
                mixes[name] = [await Mix.open(relay.port) for _ in range(CONCURRENT)]
                await _sequential(mixes[name][0], plan.warmup, plan.seconds)
            seq: dict[str, list[float]] = {n: [] for n in VARIANTS}
            calls: dict[str, list[int]] = {n: [0, 0, 0] for n in VARIANTS}  # requests, commands, scripts
            load: dict[str, list[float]] = {n: [] for n in VARIANTS}
            rates: dict[str, list[float]] = {n: [] for n in VARIANTS}
            others: dict[str, list[float]] = {n: [0.0, 0.0] for n in VARIANTS}  # CPU seconds, wall seconds
            pids = [redis.pid, *(relay.pid for relay in relays.values())]
            for r in range(plan.rounds):
                for name in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                    await mixes[name][0].reconnect()
                    ours0, machine0, wall0 = _ours(pids), _machine(), time.perf_counter()
                    before = _redis_calls(redis)
                    got = await _sequential(mixes[name][0], plan.per_round, plan.seconds)
                    after = _redis_calls(redis)
                    seq[name] += got
                    calls[name][0] += len(got)
                    calls[name][1] += after[0] - before[0]
                    calls[name][2] += after[1] - before[1]
                    for mix in mixes[name]:
                        await mix.reconnect()
                    lat, rate = await _concurrent(mixes[name], plan.load_s)
                    load[name] += lat
                    rates[name].append(rate)
                    others[name][0] += max(0.0, (_machine() - machine0) - (_ours(pids) - ours0))
                    others[name][1] += time.perf_counter() - wall0
            refused = {n: sum(m.refused for m in mixes[n]) for n in VARIANTS}
        finally:
            for mix_list in mixes.values():
                for mix in mix_list:
                    await mix.http.close()
            for relay in relays.values():
                relay.stop()
    if any(refused.values()):
        raise AssertionError(f"the limiter refused requests, so the variants did different work: {refused}")
    scripts = {n: calls[n][2] / calls[n][0] for n in VARIANTS}
    if not 0.99 <= scripts["shared"] - scripts["in-process"] <= 1.01:  # one limiter call per request
        raise AssertionError(f"EVALSHA per request do not show one limiter call per request: {scripts}")

    def p(values: list[float], q: float) -> float:
        return percentile(values, q)

    local, shared = "in-process", "shared"
    rows_out = []
    for label, values in (("1 connection", seq), (f"{CONCURRENT} connections", load)):
        for q in (50, 99):
            a, b = p(values[local], q), p(values[shared], q)
            rows_out.append((f"{label}, p{q}", _ms(a), _ms(b), f"{b / a:.2f}x"))
    rate_a, rate_b = sorted(rates[local])[len(rates[local]) // 2], sorted(rates[shared])[len(rates[shared]) // 2]
    rows_out.append((f"{CONCURRENT} connections, requests/s (median round)", f"{rate_a:,.0f}", f"{rate_b:,.0f}",
                     f"{rate_b / rate_a:.2f}x"))
    per = {n: (calls[n][1] / calls[n][0], calls[n][2] / calls[n][0]) for n in VARIANTS}
    rows_out.append(("Redis commands run per request (EVALSHA)", f"{per[local][0]:.2f} ({per[local][1]:.2f})",
                     f"{per[shared][0]:.2f} ({per[shared][1]:.2f})", f"{per[shared][0] / per[local][0]:.2f}x"))
    busy = {n: others[n][0] / others[n][1] for n in VARIANTS}
    rows_out.append(("others: cores used meanwhile by anything else", f"{busy[local]:.2f}", f"{busy[shared]:.2f}", ""))
    print(f"   {len(seq[local]):,} + {len(seq[shared]):,} sequential requests, "
          f"{len(load[local]):,} + {len(load[shared]):,} concurrent; none refused")
    print(text_table(["case", "in-process limits", "shared Redis limits", "shared / in-process"], rows_out))

    rows = []
    for label, values in (("1 connection", seq), (f"{CONCURRENT} connections", load)):
        for q in (50, 99):
            a, b = p(values[local], q), p(values[shared], q)
            rows.append(SummaryRow("relay limits", f"shared Redis limits, {label}, p{q}", _ms(b),
                                   f"in-process limits {_ms(a)}", b / a, "informative"))
    rows.append(SummaryRow("relay limits", f"shared Redis limits, {CONCURRENT} connections", f"{rate_b:,.0f} req/s",
                           f"in-process limits {rate_a:,.0f} req/s", rate_b / rate_a, "informative"))
    return rows


def run(quick: bool) -> list[SummaryRow]:
    print_header("relay rate limits: in-process vs shared through Redis (Redis store)", quick)
    return asyncio.run(_bench(QUICK if quick else FULL))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve(json.loads(sys.argv[2])))
    args = parse_args(__doc__.splitlines()[0])
    run(args.quick)
