"""The chat feature: end-to-end latency into an open window, opening a long conversation, memory.

1. **End to end**: ``await alice.chat.send(bob, text)`` called in alice's app -> the message in
   bob's open window (``bob.chat.open(alice)`` first; a ``bob.chat.watch(alice, cb)`` watcher
   hears the ``upsert`` of the incoming message). Each user is a booted app with the whole
   secure stack (persistence, identity, crypto, signaling, messaging, contacts, chat), signed
   up, prekeys published, each pair in each other's contacts from invites, both windows open;
   warm-up messages each way first (the X3DH session is established). Both ends of a pair live
   in one client process, so one ``time.perf_counter`` stamps both ends. The peer, in the same
   run and the same pairs, interleaved message by message: messaging's own path,
   ``messaging.send`` -> bob's ``SECURE_MESSAGE_RECEIVED`` (what chat is built on). Chat's
   messages are also stamped where they pass ``SECURE_MESSAGE_RECEIVED`` at bob: the rest is
   chat's own share (its actors, one database read, the window). One relay process (``python
   -m chatkernel.relay``, memory store, rate limits raised, as ``bench_messaging``), 1 pair and
   20 pairs at chat pace (100-300 ms pauses after each arrival); the 20 pairs are split over
   client processes when one client process runs above 70 % of a core, as ``bench_messaging``.
2. **Opening a conversation of 10,000 messages**: a profile database filled with 10,000
   messages in one conversation by inserting rows into ``messaging_messages`` directly (a
   fixture: one transaction, 1 in 20 a reply to one 1-100 messages earlier), then
   ``await chat.open(peer)`` (the newest page), its window dropped between runs
   (``chat.close(peer)``), interleaved with its peer, the raw ``messaging.history(peer,
   limit=page_size)`` it is built on; then ``older()`` paging to the start, each page beside the
   raw ``messaging.history(before=...)`` of the same page.
3. **Kernel memory**: 100 conversations of 1,000 messages each (rows inserted directly, peers
   that are not contacts), in a fresh client process: RSS before and after opening all 100 and
   after paging each to its start, then again under tracemalloc: what the chat service's
   windows hold (traced bytes with the windows loaded minus after closing them), per message.

Everything binds and connects on 127.0.0.1; every loop is bounded in count and time; every
process is terminated (then killed) on the way out.

Run alone: ``.venv/bin/python bench/bench_chat.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import math
import os
import random
import shutil
import statistics
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

TARGET_P50_S = 10e-3
TARGET_P99_S = 50e-3
TARGET_OPEN_S = 100e-3
PAIRS = 20
MAX_CLIENT_UTIL = 0.70
MAX_CLIENT_PROCS = 5
SCRIPT = Path(__file__).resolve()
IDLE = ("--idle-timeout", "120")  # see bench_messaging: keeps the first sends off a keep-alive race
_INSERT = ("INSERT INTO messaging_messages (peer, direction, id, kind, body, sent_at, stored_at, status, relay_id, "
           "reply_to, edited_at, deleted) VALUES (?, ?, ?, 'text', ?, ?, ?, ?, ?, ?, NULL, 0)")
_WORDS = ("the quick brown fox jumps over lazy dog meeting tomorrow lunch sounds good see you then "
          "did you read the draft flat keys ratchet coffee later sure thanks okay").split()


@dataclass(frozen=True)
class Plan:
    one_pair: tuple[int, float]  # (messages, seconds) per pair, 1 pair
    many: tuple[int, float]  # per pair, 20 pairs
    long_messages: int  # the long conversation
    open_runs: int
    conversations: int  # memory: conversations x messages each
    per_conversation: int
    seconds: float  # bound on each timed loop of 2 and 3


FULL = Plan(one_pair=(80, 16.0), many=(60, 14.0), long_messages=10_000, open_runs=21, conversations=100,
            per_conversation=1_000, seconds=60.0)
QUICK = Plan(one_pair=(12, 3.0), many=(10, 3.0), long_messages=10_000, open_runs=5, conversations=100,
             per_conversation=100, seconds=15.0)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ----------------------------------------------------------------------------------- parent side
@contextlib.asynccontextmanager
async def _workers(role: str, arg_list: list[dict[str, Any]], ready_timeout: float) -> AsyncIterator[list[L.Worker]]:
    """This file's workers (``--worker ROLE ARGS``), all READY; always stopped."""
    started: list[L.Worker] = []
    grace = 0.0
    try:
        for args in arg_list:
            proc = await asyncio.create_subprocess_exec(
                *L.orphan_guard(), sys.executable, str(SCRIPT), "--worker", role, json.dumps(args),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None, limit=64 * 1024 * 1024)
            started.append(L.Worker(proc, role))
        for w in started:
            await w.expect("READY", ready_timeout)
        yield started
        grace = 2.0
    finally:
        await asyncio.gather(*(w.stop(grace) for w in started), return_exceptions=True)


async def _e2e(relay: L.Managed, pairs: int, procs: int, messages: int, seconds: float) -> dict[str, Any]:
    counts = _split(pairs, procs)
    args = [{"url": relay.url, "pairs": n, "messages": messages, "seconds": seconds, "seed": i,
             "pace": list(L.SLOW_PACE_S)} for i, n in enumerate(counts)]
    async with _workers("e2e", args, ready_timeout=150) as started:
        run = await L.go_and_measure(started, relay.pid, seconds + 40)
    results, relay_util, utils, others = (run[k] for k in ("results", "relay_util", "utils", "others"))
    chat = [s for r in results for s in r["chat"]]
    plain = [s for r in results for s in r["messaging"]]
    if not chat or not plain:
        raise RuntimeError(f"e2e: no message arrived (lost {sum(r['lost'] for r in results)})")
    return {"pairs": pairs, "procs": procs, "chat": chat, "messaging": plain,
            "spans": [s for r in results for s in r["spans"]], "lost": sum(r["lost"] for r in results),
            "plain_returned": [s for r in results for s in r["plain_returned"]],
            "utils": utils, "relay_util": relay_util, "others": others,
            "rate": (len(chat) + len(plain)) / max(r["wall"] for r in results),
            "errors": [e for r in results for e in r["errors"]]}


def _stats(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 50), percentile(values, 99), max(values)


async def _part1(plan: Plan) -> tuple[list[SummaryRow], dict[str, Any]]:
    with L.scratch_dir() as workdir, L.relay_process("memory", *IDLE, workdir=workdir) as relay:
        print(f"\n-- 1. chat.send -> the message in bob's open window, 1 pair then {PAIRS} pairs at chat pace "
              f"({L.SLOW_PACE_S[0] * 1e3:.0f}-{L.SLOW_PACE_S[1] * 1e3:.0f} ms pauses), one relay process; "
              "interleaved with messaging.send -> SECURE_MESSAGE_RECEIVED", flush=True)
        one = await _e2e(relay, 1, 1, *plan.one_pair)
        runs = [await _e2e(relay, PAIRS, 1, *plan.many)]
        util = max(runs[-1]["utils"])
        if util > MAX_CLIENT_UTIL:
            procs = min(MAX_CLIENT_PROCS, max(2, math.ceil(sum(runs[-1]["utils"]) / (MAX_CLIENT_UTIL / 2))))
            print(f"   one client process ran at {util:.0%} of a core (> {MAX_CLIENT_UTIL:.0%}): splitting the "
                  f"{PAIRS} pairs over {procs} client processes", flush=True)
            runs.append(await _e2e(relay, PAIRS, procs, *plan.many))
    many = runs[-1]
    table = []
    for r in (one, *runs):
        for kind, label in (("chat", "chat.send -> bob's window upsert"),
                            ("messaging", "messaging.send -> SECURE_MESSAGE_RECEIVED")):
            p50, p99, top = _stats(r[kind])
            table.append((f"{label}, {r['pairs']} pair(s), {r['procs']} proc(s)", len(r[kind]), _ms(p50), _ms(p99),
                          _ms(top), " ".join(f"{u:.0%}" for u in r["utils"]), f"{r['relay_util']:.0%}",
                          f"{r['others']:.2f}"))
    print(text_table(("path", "samples", "p50", "p99", "max", "client CPU/core", "relay CPU", "others"), table))
    print(f"   lost (no arrival within 5 s): 1 pair {one['lost']}, {PAIRS} pairs {many['lost']}; "
          f"others = cores used meanwhile by the rest of the machine's {os.cpu_count()}")
    span_rows = []
    names = ("chat.send returned (window upsert + seal transaction)", "to SECURE_MESSAGE_RECEIVED at bob",
             "chat's share at bob (actors, one read, the window)")
    for i, name in enumerate(names):
        cells: list[str] = []
        for r in (one, many):
            values = [s[i] for s in r["spans"]]
            cells += [_ms(percentile(values, 50)), _ms(percentile(values, 99))] if values else ["", ""]
        span_rows.append((name, *cells))
    cells = []
    for r in (one, many):
        cells += [_ms(percentile(r["plain_returned"], 50)), _ms(percentile(r["plain_returned"], 99))]
    span_rows.append(("peer: messaging.send returned (seal transaction)", *cells))
    print(text_table(("chat message, from send", "p50, 1 pair", "p99, 1 pair", f"p50, {PAIRS} pairs",
                      f"p99, {PAIRS} pairs"), span_rows))
    for r in (one, many):
        print(f"   client CPU per message ({r['pairs']} pair(s)): {sum(r['utils']) / r['rate'] * 1e3:.1f} ms, both "
              f"ends, with the delivery receipt chat seals back for every text message (either path)")
    for error in (one["errors"] + many["errors"])[:5]:
        print(f"   error: {error}")
    rows: list[SummaryRow] = []
    for r in (one, many):
        c50, c99, _ = _stats(r["chat"])
        m50, m99, _ = _stats(r["messaging"])
        note = f"{r['pairs']} pair(s), {r['procs']} proc(s), others {r['others']:.2f}"
        print(f"   {note}: chat p50 {_ms(c50)} vs target {_ms(TARGET_P50_S)} = {c50 / TARGET_P50_S:.2f}x, "
              f"p99 {_ms(c99)} vs {_ms(TARGET_P99_S)} = {c99 / TARGET_P99_S:.2f}x; chat / messaging: "
              f"p50 {c50 / m50:.2f}x, p99 {c99 / m99:.2f}x")
        rows += [
            SummaryRow("chat e2e", f"send -> bob's window, {note}: p50", _ms(c50), "target 10 ms",
                       c50 / TARGET_P50_S, "<= 1x", c50 <= TARGET_P50_S),
            SummaryRow("chat e2e", f"send -> bob's window, {note}: p99", _ms(c99), "target 50 ms",
                       c99 / TARGET_P99_S, "<= 1x", c99 <= TARGET_P99_S),
            SummaryRow("chat e2e", f"chat / messaging, {r['pairs']} pair(s), same run: p50",
                       f"{_ms(c50)} vs {_ms(m50)}", "messaging.send -> SECURE_MESSAGE_RECEIVED", c50 / m50,
                       "informative"),
            SummaryRow("chat e2e", f"chat / messaging, {r['pairs']} pair(s), same run: p99",
                       f"{_ms(c99)} vs {_ms(m99)}", "messaging.send -> SECURE_MESSAGE_RECEIVED", c99 / m99,
                       "informative"),
        ]
    return rows, many


async def _part2(plan: Plan) -> list[SummaryRow]:
    print(f"\n-- 2. opening a conversation of {plan.long_messages:,} messages (FIXTURE: rows inserted directly into "
          "messaging_messages in one transaction, 1 in 20 a reply)", flush=True)
    async with _workers("open", [{"messages": plan.long_messages, "runs": plan.open_runs,
                                  "seconds": plan.seconds}], ready_timeout=120) as (w,):
        w.tell("GO")
        r = await w.expect("RESULT", plan.seconds * 3 + 60)
    open_med, raw_med = statistics.median(r["open"]), statistics.median(r["raw"])
    old_med, old_raw = statistics.median(r["older"]), statistics.median(r["older_raw"])
    first10, last10 = statistics.median(r["older"][:10]), statistics.median(r["older"][-10:])
    print(f"   fill: {r['fill_s']:.2f} s for {plan.long_messages:,} rows; page_size {r['page_size']}")
    print(text_table(("call", "runs", "median", "best", "max", "first"), [
        ("chat.open(peer) (newest page, window dropped between)", len(r["open"]), _ms(open_med),
         _ms(min(r["open"])), _ms(max(r["open"])), _ms(r["open"][0])),
        (f"messaging.history(peer, limit={r['page_size']})", len(r["raw"]), _ms(raw_med), _ms(min(r["raw"])),
         _ms(max(r["raw"])), _ms(r["raw"][0])),
        ("chat.older(peer), each page to the start", len(r["older"]), _ms(old_med), _ms(min(r["older"])),
         _ms(max(r["older"])), _ms(r["older"][0])),
        ("messaging.history(peer, before=seq), same pages", len(r["older_raw"]), _ms(old_raw),
         _ms(min(r["older_raw"])), _ms(max(r["older_raw"])), _ms(r["older_raw"][0])),
    ]))
    print(f"   older(): median of the first 10 pages {_ms(first10)}, of the last 10 {_ms(last10)} (window "
          f"{r['window']:,} messages at the end, has_older {r['has_older']}); paging to the start took "
          f"{sum(r['older']):.2f} s in all")
    print(f"   open {_ms(open_med)} vs target {_ms(TARGET_OPEN_S)} = {open_med / TARGET_OPEN_S:.2f}x; "
          f"open / raw history {open_med / raw_med:.2f}x; older / raw {old_med / old_raw:.2f}x")
    return [
        SummaryRow("chat open", f"open(peer), {plan.long_messages:,} messages (fixture rows): median",
                   _ms(open_med), "target 100 ms", open_med / TARGET_OPEN_S, "<= 1x", open_med <= TARGET_OPEN_S),
        SummaryRow("chat open", "open(peer) / messaging.history(limit=page_size), same run",
                   f"{_ms(open_med)} vs {_ms(raw_med)}", "raw messaging.history", open_med / raw_med, "informative"),
        SummaryRow("chat open", f"older(peer) per page, {len(r['older'])} pages to the start: median",
                   f"{_ms(old_med)} (last 10: {_ms(last10)})", f"raw history(before) {_ms(old_raw)}",
                   old_med / old_raw, "informative"),
    ]


async def _part3(plan: Plan) -> list[SummaryRow]:
    total = plan.conversations * plan.per_conversation
    print(f"\n-- 3. kernel memory: {plan.conversations} conversations x {plan.per_conversation:,} messages "
          "(FIXTURE: rows inserted directly, peers not contacts), a fresh client process", flush=True)
    async with _workers("memory", [{"conversations": plan.conversations, "per": plan.per_conversation,
                                    "seconds": plan.seconds}], ready_timeout=180) as (w,):
        w.tell("GO")
        r = await w.expect("RESULT", plan.seconds * 4 + 120)
    loaded = r["loaded"]
    print(f"   fill: {r['fill_s']:.2f} s for {total:,} rows")
    print(text_table(("state", "RSS", "RSS - before", "messages in windows"), [
        ("before opening (profile open, nothing loaded)", _mib(r["rss0"]), "", 0),
        (f"all {plan.conversations} opened (newest page each, {r['open_s']:.2f} s)", _mib(r["rss1"]),
         _mib(r["rss1"] - r["rss0"]), r["first_pages"]),
        (f"each paged to its start ({r['page_s']:.2f} s)", _mib(r["rss2"]), _mib(r["rss2"] - r["rss0"]), loaded),
        ("all closed again (windows dropped), gc", _mib(r["rss3"]), _mib(r["rss3"] - r["rss0"]), 0),
    ]))
    per_rss = (r["rss2"] - r["rss0"]) / max(1, loaded)
    per_traced = r["traced_windows"] / max(1, r["traced_loaded"])
    print(f"   tracemalloc (a second pass, all opened and paged again): the windows hold "
          f"{_mib(r['traced_windows'])} for {r['traced_loaded']:,} messages = {per_traced:.0f} B per message "
          f"(first pages only: {r['traced_first'] / max(1, r['first_pages']):.0f} B per message); "
          f"RSS growth {per_rss:.0f} B per message; mean body {r['body_mean']:.0f} characters")
    print(f"   top allocation sites of what the windows hold: {'; '.join(r['top'])}")
    return [
        SummaryRow("chat memory", f"{plan.conversations} x {plan.per_conversation:,} messages, all paged in: RSS",
                   f"{_mib(r['rss2'])} (+{_mib(r['rss2'] - r['rss0'])})", f"before opening {_mib(r['rss0'])}",
                   r["rss2"] / r["rss0"], "informative"),
        SummaryRow("chat memory", "chat windows per message (tracemalloc)", f"{per_traced:.0f} B",
                   f"RSS growth per message {per_rss:.0f} B", per_traced / max(1.0, per_rss), "informative"),
    ]


async def _all(plan: Plan) -> list[SummaryRow]:
    rows, _ = await _part1(plan)
    rows += await _part2(plan)
    rows += await _part3(plan)
    return rows


def run(quick: bool) -> list[SummaryRow]:
    print_header("chat: send -> the peer's window, opening 10,000 messages, memory", quick)
    return L.run_terminable(lambda: _all(QUICK if quick else FULL))


# ----------------------------------------------------------------------------------- worker side
def _stack(settings: dict[str, Any], extra: list[Any]) -> Any:
    import features.chat
    import features.contacts
    import features.crypto
    import features.identity
    import features.messaging
    import features.persistence
    import features.signaling
    from chatkernel import bootstrap

    return bootstrap([features.persistence.feature, features.identity.feature, features.crypto.feature,
                      features.signaling.feature, features.messaging.feature, features.contacts.feature,
                      features.chat.feature, *extra], settings=settings)


def _svc(app: Any, feature: str) -> Any:
    return app.registry.mount_result(feature).service


async def e2e_worker(args: dict[str, Any]) -> None:
    from chatkernel import Feature, MountResult

    url, pairs, messages, seconds = args["url"], args["pairs"], args["messages"], args["seconds"]
    pace = tuple(args["pace"])
    rng = random.Random(args["seed"])
    plain_waiters: dict[str, asyncio.Future[float]] = {}
    chat_waiters: dict[str, asyncio.Future[float]] = {}
    secure_at: dict[str, float] = {}
    published: set[int] = set()
    errors: list[str] = []

    def probe(index: int) -> Feature:
        def on_event(event: Any) -> None:
            now = time.perf_counter()
            if event.type == "SECURE_MESSAGE_RECEIVED":
                message_id = event.payload["id"]
                waiter = plain_waiters.pop(message_id, None)
                if waiter is not None:
                    if not waiter.done():
                        waiter.set_result(now)
                elif len(secure_at) < 10_000:
                    secure_at[message_id] = now
            elif event.type == "PREKEYS_PUBLISHED":
                published.add(index)
            elif len(errors) < 20:
                errors.append(f"{event.type}: {dict(event.payload)}")

        return Feature(id="probe", name="Latency probe", on_mount=lambda ctx: MountResult(handler=on_event),
                       subscribed_events=["SECURE_MESSAGE_RECEIVED", "PREKEYS_PUBLISHED", "FEATURE_ERROR",
                                          "UNREADABLE_MESSAGE", "SECURE_MESSAGE_FAILED", "MESSAGE_FAILED"])

    def watcher(kind: str, data: dict[str, Any]) -> None:
        if kind == "upsert" and data["message"]["direction"] == "in":
            now = time.perf_counter()
            waiter = chat_waiters.pop(data["message"]["text"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)

    apps: list[Any] = []
    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-chat-")
    try:
        settings = {"persistence": {"profiles_dir": profiles}, "signaling": {"url": url, "poll_timeout_s": 25.0}}
        for n in range(2 * pairs):
            app = await _stack(settings, [probe(n)])
            apps.append(app)
            await _svc(app, "persistence").open(os.urandom(32), f"user{n}")
            await _svc(app, "identity").create(f"User {n}")
        users = [str(_svc(app, "identity").user_id) for app in apps]
        chats = [_svc(app, "chat") for app in apps]
        msgs = [_svc(app, "messaging") for app in apps]
        async with asyncio.timeout(90):
            while not (all(app.actors["signaling"].state == ["connected"] and app.actors["chat"].state == ["ready"]
                           for app in apps) and len(published) == len(apps)):
                await asyncio.sleep(0.01)
        for p in range(pairs):
            a, b = apps[2 * p], apps[2 * p + 1]
            await _svc(a, "contacts").add(_svc(b, "identity").invite(url), f"User {2 * p + 1}")
            await _svc(b, "contacts").add(_svc(a, "identity").invite(url), f"User {2 * p}")
        for p in range(pairs):
            a, b = 2 * p, 2 * p + 1
            await chats[a].open(users[b])
            await chats[b].open(users[a])
            chats[b].watch(users[a], watcher)
            chats[a].watch(users[b], watcher)

        counter = 0

        async def one(p: int, kind: str, reverse: bool = False) -> tuple[float, tuple[float, ...]]:
            nonlocal counter
            a, b = 2 * p, 2 * p + 1
            if reverse:
                a, b = b, a
            counter += 1
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[float] = loop.create_future()
            if kind == "chat":
                text = f"bench {counter} {uuid.uuid4().hex[:8]}: the quick brown fox"
                chat_waiters[text] = waiter
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(5):
                        message = await chats[a].send(users[b], text)
                        returned = time.perf_counter()
                        arrived = await waiter
                finally:
                    chat_waiters.pop(text, None)
                secure = secure_at.pop(message["id"], arrived)
                return arrived - started, (returned - started, secure - started, arrived - secure)
            message_id = uuid.uuid4().hex
            plain_waiters[message_id] = waiter
            started = time.perf_counter()
            try:
                async with asyncio.timeout(5):
                    await msgs[a].send(users[b], f"bench {counter}: the quick brown fox", message_id=message_id)
                    returned = time.perf_counter()
                    arrived = await waiter
            finally:
                plain_waiters.pop(message_id, None)
            return arrived - started, (returned - started,)

        for reverse in (False, True, False):  # X3DH first, then the answer, then an established chain
            await asyncio.gather(*(one(p, "chat", reverse) for p in range(pairs)))
        await asyncio.gather(*(one(p, "messaging") for p in range(pairs)))
        await asyncio.sleep(0.5)  # delivery receipts and prekey refills settle
        secure_at.clear()
        L.emit("READY", {"pairs": pairs})
        await L.read_line()

        chat_samples: list[float] = []
        plain_samples: list[float] = []
        spans: list[tuple[float, ...]] = []
        plain_returned: list[float] = []
        lost = 0
        deadline = time.monotonic() + seconds

        async def pair(p: int) -> None:
            nonlocal lost
            await asyncio.sleep(rng.uniform(*pace))
            flip = rng.random() < 0.5
            for k in range(messages):
                if time.monotonic() >= deadline:
                    return
                kind = "chat" if (k % 2 == 0) == flip else "messaging"
                try:
                    total, span = await one(p, kind)
                except TimeoutError:
                    lost += 1
                else:
                    if kind == "messaging":
                        plain_samples.append(total)
                        plain_returned.append(span[0])
                    else:
                        chat_samples.append(total)
                        spans.append(span)
                await asyncio.sleep(rng.uniform(*pace))

        cpu0, t0 = L.self_cpu(), time.monotonic()
        await asyncio.gather(*(pair(p) for p in range(pairs)))
        cpu1, t1 = L.self_cpu(), time.monotonic()
        L.emit("RESULT", {"chat": chat_samples, "messaging": plain_samples, "spans": spans, "lost": lost,
                          "plain_returned": plain_returned,
                          "cpu": cpu1 - cpu0, "wall": t1 - t0, "errors": errors})
    finally:
        for app in apps:
            with contextlib.suppress(Exception):
                await app.shutdown(timeout=5)
        shutil.rmtree(profiles, ignore_errors=True)


def _fake_user(rng: random.Random) -> str:
    return base64.b32encode(rng.randbytes(20)).decode().lower()


def _rows(peers: list[str], per: int, rng: random.Random, start_ms: int) -> list[tuple[Any, ...]]:
    """``per`` messages for each peer, round-robin in time (rowid order interleaves the peers)."""
    out: list[tuple[Any, ...]] = []
    ids: dict[str, list[str]] = {p: [] for p in peers}
    t = start_ms
    for k in range(per):
        for peer in peers:
            t += 7
            mine = rng.random() < 0.5
            message_id = uuid.uuid4().hex
            earlier = ids[peer]
            reply_to = earlier[-rng.randint(1, min(100, len(earlier)))] if earlier and k % 20 == 19 else None
            body = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 18)))
            out.append((peer, "out" if mine else "in", message_id, body, t - 40, t, "read",
                        None if mine else f"r{len(out)}", reply_to))
            earlier.append(message_id)
    return out


async def _profile(profiles: str) -> Any:
    app = await _stack({"persistence": {"profiles_dir": profiles}}, [])  # no relay url: never connects
    await _svc(app, "persistence").open(os.urandom(32), "fixture")
    await _svc(app, "identity").create("Bench")
    return app


async def _fill(db: Any, rows: list[tuple[Any, ...]]) -> float:
    t0 = time.perf_counter()
    async with db.transaction() as tx:
        await tx.executemany(_INSERT, rows)
    return time.perf_counter() - t0


async def open_worker(args: dict[str, Any]) -> None:
    """Part 2: one conversation of ``messages`` rows: open (window dropped between) vs raw history; older()."""
    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-chat-open-")
    app = None
    try:
        app = await _profile(profiles)
        chat, messaging, db = _svc(app, "chat"), _svc(app, "messaging"), _svc(app, "persistence")
        rng = random.Random(7)
        peer = _fake_user(rng)
        fill_s = await _fill(db, _rows([peer], args["messages"], rng, int(time.time() * 1000) - 10**8))
        page = chat.config.page_size
        L.emit("READY", {})
        await L.read_line()
        await messaging.history(peer, limit=page)  # warm the page cache once, for both
        opens: list[float] = []
        raws: list[float] = []
        deadline = time.monotonic() + args["seconds"]
        for _ in range(args["runs"]):
            if time.monotonic() >= deadline:
                break
            t0 = time.perf_counter()
            shown = await chat.open(peer)
            t1 = time.perf_counter()
            chat.close(peer)
            await asyncio.sleep(0.02)  # the conversation actor hears OPENED / CLOSED off the clock
            t2 = time.perf_counter()
            await messaging.history(peer, limit=page)
            t3 = time.perf_counter()
            opens.append(t1 - t0)
            raws.append(t3 - t2)
            assert len(shown) == page, len(shown)
            await asyncio.sleep(0.005)
        await chat.open(peer)
        older: list[float] = []
        older_raw: list[float] = []
        deadline = time.monotonic() + args["seconds"]
        for _ in range(args["messages"] // page + 2):
            window = chat.messages(peer)
            if time.monotonic() >= deadline or not chat._conversations[peer].has_older:
                break
            seq = next(m["seq"] for m in window if m["seq"] is not None)
            t0 = time.perf_counter()
            await messaging.history(peer, limit=page + 1, before=seq)
            t1 = time.perf_counter()
            await chat.older(peer)
            t2 = time.perf_counter()
            older_raw.append(t1 - t0)
            older.append(t2 - t1)
        L.emit("RESULT", {"open": opens, "raw": raws, "older": older, "older_raw": older_raw, "fill_s": fill_s,
                          "page_size": page, "window": len(chat.messages(peer)),
                          "has_older": chat._conversations[peer].has_older})
    finally:
        if app is not None:
            with contextlib.suppress(Exception):
                await app.shutdown(timeout=5)
        shutil.rmtree(profiles, ignore_errors=True)


async def memory_worker(args: dict[str, Any]) -> None:
    """Part 3: ``conversations`` x ``per`` rows; RSS before / after opening / after paging; tracemalloc."""
    import tracemalloc

    profiles = tempfile.mkdtemp(prefix="chatkernel-bench-chat-mem-")
    app = None
    try:
        app = await _profile(profiles)
        chat, db = _svc(app, "chat"), _svc(app, "persistence")
        rng = random.Random(11)
        peers = [_fake_user(rng) for _ in range(args["conversations"])]
        rows = _rows(peers, args["per"], rng, int(time.time() * 1000) - 10**9)
        body_mean = statistics.mean(len(r[3]) for r in rows)
        fill_s = await _fill(db, rows)
        del rows
        L.emit("READY", {})
        await L.read_line()
        pid = os.getpid()
        bound = args["seconds"]

        async def open_all() -> float:
            t0 = time.perf_counter()
            for peer in peers:
                await chat.open(peer)
            await asyncio.sleep(0.1)  # the conversation actors spawn
            return time.perf_counter() - t0

        async def page_all() -> float:
            t0 = time.perf_counter()
            deadline = time.monotonic() + bound
            for peer in peers:
                for _ in range(args["per"] // chat.config.page_size + 2):
                    if time.monotonic() >= deadline or not await chat.older(peer):
                        break
            return time.perf_counter() - t0

        def loaded() -> int:
            return sum(len(chat.messages(peer)) for peer in peers)

        async def close_all() -> None:
            for peer in peers:
                chat.close(peer)
            await asyncio.sleep(0.1)
            gc.collect()

        gc.collect()
        rss0 = L.rss_bytes(pid)
        open_s = await open_all()
        gc.collect()
        rss1 = L.rss_bytes(pid)
        first_pages = loaded()
        page_s = await page_all()
        gc.collect()
        rss2 = L.rss_bytes(pid)
        in_windows = loaded()
        await close_all()
        rss3 = L.rss_bytes(pid)

        tracemalloc.start(4)
        try:
            gc.collect()
            base = tracemalloc.take_snapshot()
            traced0 = tracemalloc.get_traced_memory()[0]
            await open_all()
            gc.collect()
            traced_first = tracemalloc.get_traced_memory()[0] - traced0
            await page_all()
            gc.collect()
            traced_loaded = loaded()
            full = tracemalloc.take_snapshot()
            traced1 = tracemalloc.get_traced_memory()[0]
            await close_all()
            traced2 = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        top = [f"{'/'.join(s.traceback[0].filename.split('/')[-3:])}:{s.traceback[0].lineno} "
               f"{s.size_diff / 2**20:.1f} MiB" for s in full.compare_to(base, "lineno")[:5]]
        L.emit("RESULT", {"rss0": rss0, "rss1": rss1, "rss2": rss2, "rss3": rss3, "open_s": open_s,
                          "page_s": page_s, "first_pages": first_pages, "loaded": in_windows, "fill_s": fill_s,
                          "traced_windows": traced1 - traced2, "traced_first": traced_first,
                          "traced_loaded": traced_loaded, "top": top, "body_mean": body_mean})
    finally:
        if app is not None:
            with contextlib.suppress(Exception):
                await app.shutdown(timeout=5)
        shutil.rmtree(profiles, ignore_errors=True)


_ROLES = {"e2e": e2e_worker, "open": open_worker, "memory": memory_worker}


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--worker":
        try:
            asyncio.run(_ROLES[sys.argv[2]](json.loads(sys.argv[3])))
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
