"""Shared helpers for the benchmarks: bounded repetition, statistics, ratios and tables.

Kept small and free of third-party imports so every ``bench_*.py`` also runs on its own
(``python bench/bench_bus.py``): running a file as a script puts ``bench/`` on ``sys.path``,
which is how the benchmarks find this module without ``bench`` being a package.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

__all__ = [
    "Deadline",
    "SummaryRow",
    "Timings",
    "environment",
    "gc_paused",
    "markdown_table",
    "parse_args",
    "percentile",
    "print_header",
    "text_table",
]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect, then keep the cyclic collector off for a timed section.

    A collection that lands inside one contender's run and not another's is noise, not a
    property of either; every contender of a comparison is timed inside this same guard.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Deadline:
    """A wall-clock budget for a loop: every loop here is bounded by a count *and* by one of these."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.perf_counter() + seconds

    def expired(self) -> bool:
        return time.perf_counter() >= self._end


@dataclass(frozen=True)
class Timings:
    """Repeated measurements of one thing (seconds, or any unit); the median is the headline."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def best(self) -> float:
        return min(self.values)

    def __len__(self) -> int:
        return len(self.values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): always a value that was actually observed."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class SummaryRow:
    """One line of the README table: a figure, what it is compared with, and the ratio between them."""

    benchmark: str
    case: str
    result: str
    compared_with: str
    ratio: float
    goal: str
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "**missed**")


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned table for the console (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def markdown_table(rows: Sequence[SummaryRow]) -> str:
    """The summary as GitHub markdown, ready to paste into the README."""
    out = [
        "Ratio: ours / peer for throughput (higher is better); measured / target or bound otherwise.",
        "",
        "| Benchmark | Case | Result | Compared with | Ratio | Goal | Verdict |",
        "|---|---|--:|---|--:|---|---|",
    ]
    out += [
        f"| {r.benchmark} | {r.case} | {r.result} | {r.compared_with} | {r.ratio:.2f}x | {r.goal} | {r.verdict} |"
        for r in rows
    ]
    return "\n".join(out)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def environment() -> str:
    """One line naming what the figures depend on, so pasted numbers carry their context."""
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs; chatkernel {_version('chatkernel')}, "
        f"pyee {_version('pyee')}, blinker {_version('blinker')}, "
        f"python-statemachine {_version('python-statemachine')}"
    )


def print_header(title: str, quick: bool) -> None:
    print(f"\n=== {title} ({'quick' if quick else 'full'} mode) ===", flush=True)


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (a few seconds per benchmark)")
    return parser.parse_args(argv if argv is not None else sys.argv[1:])
