"""Peak memory of the bus under a sustained LOW flood: bounded by its limits, not by the flood.

A producer dispatches LOW events in chunks and yields to the loop after each chunk; the bus
then delivers one batch (``batch_size`` events) to the subscriber, so the consumer is roughly
ten times slower than the producer and the LOW queue overflows. ``tracemalloc`` records the
peak of everything allocated from just before the bus is created to the end of the flood.

Figures, all from the same run:

* the bus with its default limits (LOW 1,000, dropped record 1,000): the headline, compared with
  a computed bound: an empty bus + (LOW limit + dropped-record capacity) x bytes per held event,
  that size measured with ``tracemalloc`` on 10,000 events queued in an idle bus (so it counts
  the event tuple, its id and time objects and its deque slot, as the flood's peak does);
  the goal allows 10% over it for transient loop objects;
* the same default-limit flood at a tenth of the size: a bounded bus has the same peak;
* the same flood with limits raised so nothing drops, to show what the limits prevent.

Run alone: ``.venv/bin/python bench/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass

from chatkernel import Event, EventBus, Priority

from _util import Deadline, SummaryRow, parse_args, print_header, text_table

FLOOD_TYPE = "BENCH_FLOODED"
CHUNK = 5_000
SAMPLE = 10_000
ALLOWANCE = 1.10  # 10% over the computed steady state, for loop transients (handles, deque block turnover)


@dataclass(frozen=True)
class FloodResult:
    flooded: int
    peak_bytes: int
    seconds: float
    delivered: int
    dropped: int
    queued: int
    high_water: int


def per_event_bytes() -> float:
    """Traced bytes per LOW event held in a queue: tuple + id + time + deque slot (payload is shared)."""
    bus = EventBus(limits={"LOW": SAMPLE + 1})
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(SAMPLE):  # no running loop: nothing is delivered, everything stays queued
        bus.dispatch(FLOOD_TYPE, None, Priority.LOW)
    size = (tracemalloc.get_traced_memory()[0] - before) / SAMPLE
    tracemalloc.stop()
    return size


def getsizeof_event() -> int:
    """The same from ``sys.getsizeof`` (no deque slot), printed as a cross-check."""
    event = EventBus().dispatch(FLOOD_TYPE, None, Priority.LOW)
    return sys.getsizeof(event) + sys.getsizeof(event.id) + sys.getsizeof(event.time)


def empty_bus_bytes() -> int:
    """Traced size of a fresh bus with one subscription: the fixed part of the bound."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    bus = EventBus()
    bus.subscribe(FLOOD_TYPE, _consume, owner="bench")
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del bus
    return size


def _consume(event: Event) -> None:
    return None


async def _flood(total: int, limits: Mapping[str, int] | None, seconds: float) -> FloodResult:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    bus = EventBus(limits=limits)
    bus.subscribe(FLOOD_TYPE, _consume, owner="bench")
    dispatch, low = bus.dispatch, Priority.LOW
    deadline, flooded = Deadline(seconds), 0
    started = time.perf_counter()
    for _ in range(total // CHUNK):
        for _ in range(CHUNK):
            dispatch(FLOOD_TYPE, None, low)
        flooded += CHUNK
        await asyncio.sleep(0)  # the slow consumer: one batch per chunk
        if deadline.expired():
            break
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    stats = bus.stats()
    result = FloodResult(flooded, peak, elapsed, stats.processed["LOW"], stats.dropped["LOW"], stats.queued["LOW"],
                         stats.high_water["LOW"])
    if result.delivered + result.dropped + result.queued != flooded:
        raise AssertionError(f"events unaccounted for: {result}")
    return result


def run(quick: bool) -> list[SummaryRow]:
    total, seconds = (100_000, 10.0) if quick else (1_000_000, 45.0)
    print_header(f"4. Peak memory under a flood of {total:,} LOW events ({CHUNK:,} per chunk, one batch "
                 "delivered per chunk)", quick)
    probe = EventBus()
    low_limit, dropped_capacity, batch = probe.limits["LOW"], probe.dropped.capacity, probe.batch_size
    per_event, fixed = per_event_bytes(), empty_bus_bytes()
    bound = fixed + (low_limit + dropped_capacity) * per_event
    tenth = asyncio.run(_flood(total // 10, None, seconds))
    bounded = asyncio.run(_flood(total, None, seconds))
    unbounded = asyncio.run(_flood(total, {"LOW": total + 1}, seconds))
    if bounded.flooded != unbounded.flooded:
        print(f"warning: time limit hit; flooded {bounded.flooded:,} vs {unbounded.flooded:,} events")
    mb = 1024 * 1024
    cases = ((f"default limits, {total // 10:,} events", tenth), (f"default limits, {total:,} events", bounded),
             (f"limits raised, {total:,} events", unbounded))
    print(text_table(
        ("case", "peak MB", "flooded", "delivered", "dropped", "queued at end", "LOW high water", "flood s"),
        [(label, f"{r.peak_bytes / mb:.3f}", f"{r.flooded:,}", f"{r.delivered:,}", f"{r.dropped:,}", f"{r.queued:,}",
          f"{r.high_water:,}", f"{r.seconds:.2f}") for label, r in cases],
    ))
    print(f"computed bound: {fixed:,} B empty bus + ({low_limit:,} LOW limit + {dropped_capacity:,} dropped record) "
          f"x {per_event:.1f} B/event = {bound / mb:.3f} MB (getsizeof per event {getsizeof_event()} B "
          f"+ 8.25 B deque slot; batch size {batch})")
    ratio_bound = bounded.peak_bytes / bound
    ratio_size = bounded.peak_bytes / tenth.peak_bytes
    ratio_growth = unbounded.peak_bytes / bounded.peak_bytes
    print(f"peak / computed bound: {ratio_bound:.3f}x (goal <= {ALLOWANCE:.2f}x); peak at {total:,} / at "
          f"{total // 10:,}: {ratio_size:.3f}x; limits raised / default: {ratio_growth:.1f}x "
          f"({unbounded.peak_bytes / max(unbounded.high_water, 1):.0f} B per queued event)")
    return [
        SummaryRow("peak memory", f"{total:,} LOW flood, default limits", f"{bounded.peak_bytes / mb:.3f} MB",
                   f"computed bound {bound / mb:.3f} MB", ratio_bound, f"<= {ALLOWANCE:.2f}x",
                   ratio_bound <= ALLOWANCE),
        SummaryRow("peak memory", f"default limits, {total:,} vs {total // 10:,} events",
                   f"{bounded.peak_bytes / mb:.3f} MB", f"{tenth.peak_bytes / mb:.3f} MB", ratio_size,
                   f"<= {ALLOWANCE:.2f}x (flat)", ratio_size <= ALLOWANCE),
        SummaryRow("peak memory", f"{total:,} LOW flood, limits raised (no drops)",
                   f"{unbounded.peak_bytes / mb:.2f} MB", f"default limits {bounded.peak_bytes / mb:.3f} MB",
                   ratio_growth, "(growth the limits prevent)"),
    ]


if __name__ == "__main__":
    from _util import environment, markdown_table

    args = parse_args(__doc__.splitlines()[0])
    print(environment())
    print("\n" + markdown_table(run(args.quick)))
