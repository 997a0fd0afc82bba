"""Mount time: register + ``mount_all`` of 100 synthetic features with a seeded random DAG.

Feature ``i`` depends on up to four features drawn from those before it in a hidden order;
ids are shuffled labels and registration order is shuffled too, so the registry really has to
sort. Each feature subscribes to one event and emits one, so mounting also wires a router per
feature. A second case has every feature spawn a small :class:`~chatkernel.Machine` actor in
``on_mount`` (python-statemachine instantiation, actor start and its mailbox task).

Contracts are built once (their validation is import-time work, not mount work); each run times
a fresh registry from the first ``register`` to the end of ``mount_all``, then unmounts untimed.

Run alone: ``.venv/bin/python bench/bench_mount.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from statemachine import State

from chatkernel import EventSpec, Feature, FeatureContext, FeatureRegistry, Machine, MountResult

from _util import Deadline, SummaryRow, Timings, gc_paused, parse_args, print_header, text_table

FEATURES = 100
MAX_DEPS = 4
SEED = 20240611
TARGET_MS = 20.0


class Lamp(Machine):
    """The small actor each feature spawns in the actor case: two states, one event."""

    off = State(initial=True)
    on = State()
    BENCH_PING = off.to(on) | on.to(off)


def _noop(event: Any) -> None:
    return None


def _mount_plain(ctx: FeatureContext) -> MountResult:
    return MountResult(handler=_noop)


async def _mount_actor(ctx: FeatureContext) -> MountResult:
    return MountResult(actor=await ctx.spawn(Lamp()))


def random_dag(seed: int = SEED, count: int = FEATURES, max_deps: int = MAX_DEPS) -> dict[str, tuple[str, ...]]:
    """Feature id -> dependency ids: acyclic by construction, labels shuffled so id order is no hint."""
    rng = random.Random(seed)
    labels = [f"feature_{n:03d}" for n in range(count)]
    rng.shuffle(labels)
    graph: dict[str, tuple[str, ...]] = {}
    for i, fid in enumerate(labels):
        graph[fid] = tuple(rng.sample(labels[:i], rng.randint(0, min(max_deps, i))))
    shuffled = list(graph.items())
    rng.shuffle(shuffled)
    return dict(shuffled)


def build_features(graph: dict[str, tuple[str, ...]], on_mount: Callable[[FeatureContext], Any]) -> list[Feature]:
    return [
        Feature(id=fid, name=fid.replace("_", " ").title(), on_mount=on_mount, dependencies=deps,
                subscribed_events=("BENCH_PING",),
                emitted_events=(EventSpec(f"{fid.upper()}_PONGED", "LOW", "a pong", {"n": int}),))
        for fid, deps in graph.items()
    ]


#: What the features hear; declared by the app's user, as a notebook would, so none is unheard.
PING = EventSpec("BENCH_PING", "MEDIUM", "a ping every feature hears")


async def _mount_once(features: list[Feature]) -> float:
    registry = FeatureRegistry()
    registry.catalog.declare("user", [PING])
    with gc_paused():
        started = time.perf_counter()
        for f in features:
            registry.register(f)
        report = await registry.mount_all()
        elapsed = time.perf_counter() - started
    if len(report.mounted) != len(features) or report.failed or report.skipped or report.unheard:
        raise AssertionError(f"mounted {len(report.mounted)} of {len(features)}: {report.failed or report.skipped}")
    await registry.unmount_all()
    await registry.bus.drain()
    return elapsed


async def _machines_once(count: int) -> float:
    """The python-statemachine floor of the actor case: build and activate ``count`` Lamps, no kernel."""
    with gc_paused():
        started = time.perf_counter()
        for _ in range(count):
            await Lamp().activate_initial_state()
        return time.perf_counter() - started


async def _measure_machines(runs: int, seconds: float) -> Timings:
    await _machines_once(FEATURES)
    values: list[float] = []
    deadline = Deadline(seconds)
    for _ in range(runs):
        values.append(await _machines_once(FEATURES))
        if len(values) >= 3 and deadline.expired():
            break
    return Timings(tuple(values))


async def _measure(features: list[Feature], runs: int, seconds: float) -> Timings:
    await _mount_once(features)  # warm-up: first-call costs of python-statemachine and the kernel
    values: list[float] = []
    deadline = Deadline(seconds)
    for _ in range(runs):
        values.append(await _mount_once(features))
        if len(values) >= 3 and deadline.expired():
            break
    return Timings(tuple(values))


def run(quick: bool) -> list[SummaryRow]:
    runs, seconds = (5, 2.0) if quick else (25, 12.0)
    graph = random_dag()
    edges = sum(len(d) for d in graph.values())
    print_header(f"3. Mount {FEATURES} features ({edges} random dependency edges, seed {SEED}), "
                 f"up to {runs} runs per case", quick)
    plain = asyncio.run(_measure(build_features(graph, _mount_plain), runs, seconds))
    actors = asyncio.run(_measure(build_features(graph, _mount_actor), runs, seconds))
    floor = asyncio.run(_measure_machines(runs, seconds))
    cases = (
        ("register + mount_all", plain),
        ("... each spawning a Machine actor", actors),
        (f"(floor) {FEATURES} x Lamp() + activate_initial_state(), no kernel", floor),
    )
    print(text_table(
        ("case", "runs", "median ms", "best ms", "µs/feature", "median/20ms"),
        [(label, len(t), f"{t.median * 1e3:.2f}", f"{t.best * 1e3:.2f}", f"{t.median * 1e6 / FEATURES:.0f}",
          f"{t.median * 1e3 / TARGET_MS:.2f}x") for label, t in cases],
    ))
    actor_ms, floor_ms = actors.median * 1e3, floor.median * 1e3
    print(f"actor case / python-statemachine floor: {actor_ms / floor_ms:.2f}x (kernel share "
          f"{actor_ms - floor_ms:.2f} ms: Actor wrapper and listener, registry, routers, inspection records)")
    rows = [
        SummaryRow("mount time", f"{FEATURES} features, random DAG: {label}", f"{t.median * 1e3:.2f} ms",
                   f"target {TARGET_MS:.0f} ms", t.median * 1e3 / TARGET_MS, "< 1x", t.median * 1e3 < TARGET_MS)
        for label, t in cases[:2]
    ]
    rows.append(SummaryRow("mount time", f"{FEATURES} actors: kernel total vs python-statemachine floor",
                           f"{actor_ms:.2f} ms", f"{floor_ms:.2f} ms (floor)", actor_ms / floor_ms, "(context)"))
    return rows


if __name__ == "__main__":
    from _util import environment, markdown_table

    args = parse_args(__doc__.splitlines()[0])
    print(environment())
    print("\n" + markdown_table(run(args.quick)))
