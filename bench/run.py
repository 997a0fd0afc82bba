"""Run every benchmark (kernel and relay) and print the summary table for the README.

    .venv/bin/python bench/run.py            # full run (about three minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # smoke run (a few seconds per benchmark)
    .venv/bin/python bench/run.py --only bus,mount

Each benchmark is a ``bench_*.py`` module with ``run(quick) -> list[SummaryRow]``, imported only
when chosen, so one that cannot import (say, a missing optional service) does not stop the rest.
Each benchmark prints its own figures beside the peer or target they are compared with; the
table at the end gathers the headline ratios. Figures are informative, never pass/fail for CI:
the process exits non-zero only if a benchmark crashed (a verification inside one failed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable

from _util import SummaryRow, environment, markdown_table

#: name on the command line -> module in bench/, in the order they run.
BENCHMARKS: dict[str, str] = {
    "bus": "bench_bus",
    "latency": "bench_latency",
    "mount": "bench_mount",
    "memory": "bench_memory",
    "crypto": "bench_crypto",
    "stores": "bench_relay_store",
    "relay": "bench_relay",
    "client": "bench_relay_client",
    "messaging": "bench_messaging",
    "groups": "bench_groups",
    "chat": "bench_chat",
    "limits": "bench_relay_limits",
    "workers": "bench_relay_workers",
    "identity": "bench_identity",
    "auth": "bench_auth",
    "view": "bench_conversation_view",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    print(environment())
    rows: list[SummaryRow] = []
    crashed: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        try:
            run: Callable[[bool], list[SummaryRow]] = importlib.import_module(BENCHMARKS[name]).run
            rows += run(args.quick)
        except Exception:  # noqa: BLE001 - report and carry on with the other benchmarks
            traceback.print_exc()
            crashed.append(name)
        print(f"[{name}: {time.perf_counter() - t0:.1f} s]", flush=True)

    print(f"\n=== Summary ({'quick' if args.quick else 'full'} mode, {time.perf_counter() - started:.0f} s) ===\n")
    print(environment() + "\n")
    print(markdown_table(rows))
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
