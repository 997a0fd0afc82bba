"""Latency of one HIGH event queued behind a 100,000-event LOW backlog.

The bus promises that HIGH overtakes any backlog and that it yields to the loop between batches,
so a HIGH event should wait at most about one batch. Each sample keeps the LOW queue topped up
to the backlog size, dispatches one HIGH event and records the time from the bus's own dispatch
stamp (``EventBus(clock=time.perf_counter)``, so ``event.time`` is the dispatch instant) to the
HIGH handler's call. Order is verified on every sample: no LOW handler may run between the HIGH
dispatch and its delivery. Three ways to dispatch it:

* ``outside``: from the driving coroutine right after the backlog is queued;
* ``timer``: from a ``loop.call_later`` callback firing while the backlog is being delivered;
* ``task``: from another task woken by ``asyncio.sleep`` while the backlog is being delivered.

Latency is measured with the collector on (what a kernel sees: a large backlog of tracked
tuples does trigger collections) and, as a diagnostic row, with it paused.

Run alone: ``.venv/bin/python bench/bench_latency.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from chatkernel import Event, EventBus, Priority

from _util import Deadline, SummaryRow, gc_paused, parse_args, percentile, print_header, text_table

HIGH_TYPE = "BENCH_URGENT"
LOW_TYPE = "BENCH_BACKGROUND"
TARGET_P99_S = 1e-3
MAX_DELAY_S = 2e-3  # how far into the backlog's delivery the timer/task fires


@dataclass
class Probe:
    """What the handlers record: LOW deliveries so far, and per HIGH sample its latency and order."""

    low_delivered: int = 0
    low_at_dispatch: int = 0
    latencies: list[float] = field(default_factory=list)
    due: float | None = None
    since_due: list[float] = field(default_factory=list)
    min_backlog: int = 1 << 62
    order_violations: int = 0
    waiter: asyncio.Future[None] | None = None


class Harness:
    """One bus with a LOW backlog and a HIGH handler that checks order and records latency."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self.probe = Probe()
        # clock=perf_counter makes event.time the dispatch instant on the same clock as the handler.
        self.bus = EventBus(limits={"LOW": 2 * backlog}, clock=time.perf_counter)
        self.bus.subscribe(LOW_TYPE, self._on_low, owner="bench")
        self.bus.subscribe(HIGH_TYPE, self._on_high, owner="bench")

    def _on_low(self, event: Event) -> None:
        self.probe.low_delivered += 1

    def _on_high(self, event: Event) -> None:
        delivered = time.perf_counter()
        p = self.probe
        p.latencies.append(delivered - event.time)
        if p.due is not None:
            p.since_due.append(delivered - p.due)
        if p.low_delivered != p.low_at_dispatch:
            p.order_violations += 1
        if p.waiter is not None and not p.waiter.done():
            p.waiter.set_result(None)

    def top_up(self) -> None:
        """Refill the LOW queue to ``backlog`` events without yielding (so nothing is delivered meanwhile).

        Only LOW events are ever queued between samples, so ``bus.pending`` is the LOW depth.
        """
        dispatch = self.bus.dispatch
        for _ in range(self.backlog - self.bus.pending):
            dispatch(LOW_TYPE, None, Priority.LOW)

    def fire_high(self, due: float | None = None) -> None:
        """Dispatch the HIGH sample; ``due`` is when the timer/task asked to run (perf_counter)."""
        p = self.probe
        p.due = due
        p.low_at_dispatch = p.low_delivered
        p.min_backlog = min(p.min_backlog, self.bus.pending)
        self.bus.dispatch(HIGH_TYPE, None, Priority.HIGH)


async def _fire_later(h: Harness, delay: float, due: float) -> None:
    await asyncio.sleep(delay)
    h.fire_high(due)


async def _sample(mode: str, samples: int, backlog: int, seconds: float, seed: int) -> Probe:
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    h = Harness(backlog)
    h.top_up()
    deadline = Deadline(seconds)
    for _ in range(samples):
        h.probe.waiter = loop.create_future()
        h.top_up()
        task: asyncio.Task[None] | None = None
        if mode == "outside":
            h.fire_high()
        else:
            delay = rng.uniform(0.0, MAX_DELAY_S)
            due = time.perf_counter() + delay
            if mode == "timer":
                loop.call_later(delay, h.fire_high, due)
            else:
                task = loop.create_task(_fire_later(h, delay, due))
        await asyncio.wait_for(h.probe.waiter, 5.0)
        if task is not None:
            await task
        if deadline.expired():
            break
    return h.probe


def _run_mode(mode: str, samples: int, backlog: int, seconds: float, gc_on: bool) -> Probe:
    if gc_on:
        return asyncio.run(_sample(mode, samples, backlog, seconds, seed=1))
    with gc_paused():
        return asyncio.run(_sample(mode, samples, backlog, seconds, seed=1))


def run(quick: bool) -> list[SummaryRow]:
    backlog = 100_000
    samples, seconds = (60, 1.5) if quick else (300, 8.0)
    print_header(f"2. HIGH latency behind {backlog:,} queued LOW events, up to {samples} samples per row", quick)
    rows: list[SummaryRow] = []
    table = []
    for gc_on in (True, False):
        for mode in ("outside", "timer", "task"):
            p = _run_mode(mode, samples, backlog, seconds, gc_on)
            lat = p.latencies
            p50, p99, worst = percentile(lat, 50), percentile(lat, 99), max(lat)
            ok = p.order_violations == 0 and len(lat) > 0
            label = mode if gc_on else f"{mode}, gc paused"
            due = f"{percentile(p.since_due, 99) * 1e6:,.0f}" if p.since_due else "-"
            table.append((label, len(lat), f"{p50 * 1e6:,.0f}", f"{p99 * 1e6:,.0f}", f"{worst * 1e6:,.0f}",
                          f"{p99 / TARGET_P99_S:.2f}x", due, f"{p.min_backlog:,}",
                          "PASS" if ok else f"FAIL ({p.order_violations} overtaken)"))
            if gc_on:  # the gc-paused rows are a console-only diagnostic
                rows.append(SummaryRow(
                    "HIGH latency", f"behind {backlog // 1000}k LOW, from {mode}: p50 / p99 / max",
                    f"{p50 * 1e3:.3f} / {p99 * 1e3:.3f} / {worst * 1e3:.3f} ms", "p99 target 1 ms",
                    p99 / TARGET_P99_S, "< 1x and order PASS", ok and p99 < TARGET_P99_S))
    print(text_table(("dispatched from", "samples", "p50 µs", "p99 µs", "max µs", "p99/1ms", "due→call p99 µs",
                      "min backlog", "order"), table))
    print("latency = bus dispatch stamp -> HIGH handler call. due→call = from when the timer/task was due,\n"
          "so it also counts the LOW batch the loop was busy with (the bus yields between batches).\n"
          "order PASS = on every sample the HIGH handler ran before any LOW handler of the queued backlog.")
    return rows


if __name__ == "__main__":
    from _util import environment, markdown_table

    args = parse_args(__doc__.splitlines()[0])
    print(environment())
    print("\n" + markdown_table(run(args.quick)))
