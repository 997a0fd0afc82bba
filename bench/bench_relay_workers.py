"""``chatkernel relay --workers N``: throughput of one and two workers, and one worker now vs before.

1. **Workers**: messages delivered per second (raw keep-alive HTTP load generators in their own
   processes, senders and long-poll receivers, a bounded number in flight per pair, every
   connection to the one port, so the kernel spreads them over the workers) through one and
   two workers on the SQLite store and on the Redis store (a throwaway redis-server). Beside
   each figure: the CPU of the relay (parent + workers), of the generators and of redis-server,
   so it shows whether two workers were held back by the machine or by the store.
2. **No regression**: one worker of the current code beside the relay as it was before issue 8
   (commit ``9f36dd7``, run from a temporary ``git worktree`` with ``PYTHONPATH``, removed
   afterwards), on the memory and SQLite stores, measured A B B A so drift on a shared machine
   falls on both; a ratio under 0.95 is reported as missed.

Every relay and generator binds and connects on 127.0.0.1; every loop is bounded in count and
time; every process is stopped on the way out (``setpriv --pdeathsig`` where installed).

Run alone: ``.venv/bin/python bench/bench_relay_workers.py [--quick]`` (about 60 s; quick 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _relay_load as L
import psutil
from _util import SummaryRow, print_header, text_table

REPO = Path(__file__).resolve().parents[1]
BASE_COMMIT = "9f36dd7"  # the relay before issue 8
GEN_PROCS, PAIRS, WINDOW = 2, 16, 8
REGRESSION_BOUND = 0.95


@dataclass(frozen=True)
class Plan:
    seconds: float  # one measurement window
    warmup: float


FULL = Plan(seconds=2.5, warmup=0.8)
QUICK = Plan(seconds=1.2, warmup=0.5)


class Relay:
    """``python -m chatkernel.relay`` from ``root`` (this checkout or the old worktree)."""

    def __init__(self, store: str, workers: int, workdir: Path, root: Path = REPO, name: str = ""):
        self.port = L.free_port()
        self.workers = workers
        self.name = name
        self.log = workdir / f"relay-{self.port}.log"
        argv = [sys.executable, "-m", "chatkernel.relay", "--host", L.HOST, "--port", str(self.port),
                "--store", store, "--log-level", "warning", *L.RAISED_LIMITS]
        if workers > 1:
            argv += ["--workers", str(workers)]
        env = {**os.environ, "PYTHONPATH": str(root)}
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen([*L.orphan_guard(), *argv], cwd=root, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        try:
            self._wait_serving(30.0)
        except BaseException:
            self.stop()
            raise

    def _wait_serving(self, seconds: float) -> None:
        """Until every worker has answered a /health (found by which process holds the socket)."""
        end = time.monotonic() + seconds
        seen: set[int] = set()
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with socket.create_connection((L.HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        seen.add(self._owner(sock.getsockname()[1]))
            if len(seen) >= self.workers:
                return
            time.sleep(0.02)
        raise RuntimeError(f"only {len(seen)} of {self.workers} workers answered: {self.log.read_text()[-2000:]}")

    def _owner(self, client_port: int) -> int:
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                for c in psutil.Process(pid).net_connections(kind="tcp"):
                    if c.raddr and c.raddr.port == client_port and c.laddr.port == self.port:
                        return pid
        return 0

    @property
    def pids(self) -> list[int]:
        """The process (pid of the CLI, under setpriv's exec) and its workers."""
        try:
            root = psutil.Process(self.proc.pid)
            return [self.proc.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.Error:
            return [self.proc.pid]

    def stop(self) -> None:
        L.stop_process(self.proc, grace=25.0)
        self._log_file.close()


async def measure(relay: Relay, plan: Plan, redis: L.Managed | None = None) -> dict[str, Any]:
    """One closed-loop window: delivered msg/s and the CPU of every process involved."""
    args = [{"send_port": relay.port, "poll_port": relay.port, "pairs": PAIRS, "window": WINDOW,
             "max_per_pair": 1_000_000, "seed": i} for i in range(GEN_PROCS)]
    pids = relay.pids
    async with L.workers("load", args, ready_timeout=60) as (started, _ready):
        begin = time.monotonic() + plan.warmup
        end = begin + plan.seconds
        for w in started:
            w.tell(f"GO {begin} {end}")
        await L.sleep_until(begin)
        relay0, machine0 = [L.cpu_seconds(p) for p in pids], L.machine_cpu()
        redis0 = L.cpu_seconds(redis.pid) if redis is not None else 0.0
        await L.sleep_until(end)
        relay1, machine1 = [L.cpu_seconds(p) for p in pids], L.machine_cpu()
        redis1 = L.cpu_seconds(redis.pid) if redis is not None else 0.0
        results = [await w.expect("RESULT", 30) for w in started]
    errors = [e for r in results for e in r["errors"]]
    if errors:
        raise RuntimeError(f"load generator errors on {relay.name}: {errors}")
    msg_s = sum(r["received"] for r in results) / plan.seconds
    relay_cores = (sum(relay1) - sum(relay0)) / plan.seconds
    gen_cores = sum(r["cpu"] for r in results) / plan.seconds
    redis_cores = (redis1 - redis0) / plan.seconds
    busy = (machine1[0] - machine0[0]) / plan.seconds
    steal = (machine1[1] - machine0[1]) / plan.seconds
    return {"msg_s": msg_s, "relay": relay_cores, "gen": gen_cores, "redis": redis_cores,
            "others": max(0.0, busy - relay_cores - gen_cores - redis_cores) + steal,
            "per_worker": [(b - a) / plan.seconds for a, b in zip(relay0[1:], relay1[1:])]}


@contextlib.contextmanager
def old_checkout() -> Iterator[Path]:
    """The relay before issue 8, in a temporary worktree that is removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bench-relay-base-"))
    path.rmdir()
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(path), BASE_COMMIT],
                   check=True, capture_output=True, timeout=60)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                       capture_output=True, timeout=60)
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True, timeout=60)


def _row(name: str, r: dict[str, Any]) -> tuple[Any, ...]:
    per = " + ".join(f"{c:.2f}" for c in r["per_worker"]) if len(r["per_worker"]) > 1 else ""
    redis = f"{r['redis']:.2f}" if r["redis"] else ""
    return (name, f"{r['msg_s']:,.0f}", f"{r['relay']:.2f}" + (f" ({per})" if per else ""), f"{r['gen']:.2f}", redis,
            f"{r['relay'] / r['msg_s'] * 1e6:.0f}", f"{r['others']:.2f}")


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput (of an A B B A pair: the mean of the two)."""
    if len(runs) == 1:
        return runs[0]
    keys = ("msg_s", "relay", "gen", "redis", "others")
    merged = {k: statistics.mean(r[k] for r in runs) for k in keys}
    merged["per_worker"] = runs[0]["per_worker"]
    return merged


async def _all(plan: Plan) -> list[SummaryRow]:
    table: list[tuple[Any, ...]] = []
    rows: list[SummaryRow] = []
    with L.scratch_dir() as workdir, old_checkout() as base:
        # 2. one worker, now vs before issue 8 (A B B A), memory and SQLite
        regress: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for store in ("memory", "sqlite"):
            spec_old = "memory" if store == "memory" else f"sqlite:{workdir / 'old.db'}"
            spec_new = "memory" if store == "memory" else f"sqlite:{workdir / 'new.db'}"
            old = Relay(spec_old, 1, workdir, root=base, name=f"{store} before")
            try:
                new = Relay(spec_new, 1, workdir, name=f"{store} now")
                try:
                    a1 = await measure(old, plan)
                    b1 = await measure(new, plan)
                    b2 = await measure(new, plan)
                    a2 = await measure(old, plan)
                finally:
                    new.stop()
            finally:
                old.stop()
            regress[store] = (_median([a1, a2]), _median([b1, b2]))
        # 1. one and two workers, SQLite then Redis
        sqlite2 = Relay(f"sqlite:{workdir / 'two.db'}", 2, workdir, name="sqlite x2")
        try:
            two_sqlite = await measure(sqlite2, plan)
        finally:
            sqlite2.stop()
        one_sqlite = regress["sqlite"][1]
        two_redis = one_redis = None
        with L.redis_process(workdir) as redis:
            if redis is None:
                print("   redis-server not found: the Redis rows are skipped")
            else:
                spec = f"redis://{L.HOST}:{redis.port}/0?prefix=bench:"
                r1 = Relay(spec, 1, workdir, name="redis x1")
                try:
                    one_redis = await measure(r1, plan, redis)
                finally:
                    r1.stop()
                r2 = Relay(spec, 2, workdir, name="redis x2")
                try:
                    two_redis = await measure(r2, plan, redis)
                finally:
                    r2.stop()

    table += [_row("SQLite, 1 worker", one_sqlite), _row("SQLite, 2 workers", two_sqlite)]
    rows.append(SummaryRow("relay workers", "SQLite, 2 workers vs 1 (same run)", f"{two_sqlite['msg_s']:,.0f} msg/s",
                           f"1 worker, {one_sqlite['msg_s']:,.0f} msg/s", two_sqlite["msg_s"] / one_sqlite["msg_s"],
                           "informative"))
    if one_redis is not None and two_redis is not None:
        table += [_row("Redis, 1 worker", one_redis), _row("Redis, 2 workers", two_redis)]
        rows.append(SummaryRow("relay workers", "Redis, 2 workers vs 1 (same run)", f"{two_redis['msg_s']:,.0f} msg/s",
                               f"1 worker, {one_redis['msg_s']:,.0f} msg/s", two_redis["msg_s"] / one_redis["msg_s"],
                               "informative"))
    for store, (old_r, new_r) in regress.items():
        table += [_row(f"{store}, 1 worker, before issue 8 ({BASE_COMMIT})", old_r),
                  _row(f"{store}, 1 worker, now", new_r)]
        ratio = new_r["msg_s"] / old_r["msg_s"]
        rows.append(SummaryRow("relay workers", f"one worker now vs {BASE_COMMIT}, {store} store (A B B A)",
                               f"{new_r['msg_s']:,.0f} msg/s", f"{old_r['msg_s']:,.0f} msg/s", ratio,
                               f">= {REGRESSION_BOUND}x", ratio >= REGRESSION_BOUND))
    print(text_table(("case", "delivered msg/s", "relay cores (per worker)", "generator cores", "redis cores",
                      "relay µs/msg", "others"), table))
    print(f"   {GEN_PROCS} generator processes x {PAIRS} sender/poller pairs, at most {WINDOW} messages in flight "
          f"per pair; all on this machine's {os.cpu_count()} cores, so relay + generators + redis-server share them "
          f"(cores busy above the core count is impossible: two workers can only use what the generators leave)")
    print(f"   ratios, same run: SQLite 2/1 workers {two_sqlite['msg_s'] / one_sqlite['msg_s']:.2f}x"
          + (f", Redis 2/1 workers {two_redis['msg_s'] / one_redis['msg_s']:.2f}x"
             if one_redis is not None and two_redis is not None else "")
          + "; " + ", ".join(f"{s} now/before {n['msg_s'] / o['msg_s']:.2f}x" for s, (o, n) in regress.items()))
    print("   others = cores used meanwhile by everything else (other processes, steal): above ~0.2 the figures "
          "are disturbed; run it again")
    return rows


def run(quick: bool) -> list[SummaryRow]:
    print_header("relay --workers: throughput of one and two workers; one worker now vs before issue 8", quick)
    return asyncio.run(_all(QUICK if quick else FULL))


if __name__ == "__main__":
    import argparse

    from _util import environment, markdown_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    print(environment())
    started = time.perf_counter()
    summary = markdown_table(run(args.quick))
    print(f"\n=== Summary ({'quick' if args.quick else 'full'} mode, {time.perf_counter() - started:.0f} s) ===\n")
    print(summary)
