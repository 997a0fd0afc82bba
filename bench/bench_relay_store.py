"""Relay throughput: mailbox stores (memory, SQLite, Redis) and end-to-end HTTP send -> poll.

Store rows time one full message cycle (append, read, ack) per message, sequentially, which is
the relay's per-request pattern; the Redis row is compared with the research note's measured
sequential XADD rate (5.6 k/s, one round trip each). The HTTP row drives a real embedded relay
with a raw asyncio HTTP/1.1 client (httpx would be the bottleneck, per the research notes) and
reports send -> delivery latency to a parked long poll, beside the research's 3 ms p50.

Run alone: ``.venv/bin/python bench/bench_relay_store.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from chatkernel.relay import EmbeddedRelay, MailboxStore, RelayConfig, connect_request, open_store
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from _util import Deadline, SummaryRow, Timings, parse_args, percentile, print_header, text_table

RESEARCH_XADD_PER_S = 5_600  # messaging.md 6.2: sequential XADD, one round trip each
RESEARCH_E2E_P50_MS = 3.0  # messaging.md 6.3: 10 pairs, in-memory relay, uvloop + httptools
TO, FROM = "b" * 32, "a" * 32


async def _cycle_rate(store: MailboxStore, n: int, seconds: float) -> float:
    """Messages per second through append -> read -> ack."""
    deadline = Deadline(seconds)
    done = 0
    started = time.perf_counter()
    while done < n and not deadline.expired():
        now = time.time_ns() // 1_000_000
        await store.append(to=TO, sender=FROM, msg_id=f"m{done}", payload='"ciphertext"', ts=now,
                           max_len=10_000, dedup_until=now + 60_000)
        (event,) = await store.read(TO, None, limit=100, max_bytes=1 << 20)
        await store.ack(TO, event.id)
        done += 1
    return done / (time.perf_counter() - started)


def _start_redis() -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0?prefix=bench:"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None


class _RawHTTP:
    """A keep-alive HTTP/1.1 client for JSON POSTs; just enough for the relay."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _RawHTTP:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        data = json.dumps(body).encode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        return json.loads(await self.reader.readexactly(length))

    def close(self) -> None:
        self.writer.close()


async def _e2e_latencies(samples: int, seconds: float) -> list[float]:
    config = RelayConfig(rate_per_user=1e6, burst_per_user=1e6, rate_per_address=1e6, burst_per_address=1e6)
    async with EmbeddedRelay.start(config=config) as relay:
        sender, poller = await _RawHTTP.open(relay.port), await _RawHTTP.open(relay.port)
        ids, tokens = [], []
        for _ in range(2):
            body = connect_request(Ed25519PrivateKey.generate(), X25519PrivateKey.generate().public_key())
            ids.append(body["userId"])
            tokens.append((await sender.post("/connect", body))["token"])
        latencies: list[float] = []
        since = None
        deadline = Deadline(seconds)
        while len(latencies) < samples and not deadline.expired():
            poll_body: dict[str, Any] = {"userId": ids[1], "timeout": 5}
            if since is not None:
                poll_body["since"] = since
            poll = asyncio.ensure_future(poller.post("/poll", poll_body, tokens[1]))
            while relay.service.parked == 0:
                await asyncio.sleep(0)
            started = time.perf_counter()
            await sender.post("/send", {"from": ids[0], "to": ids[1], "id": f"m{len(latencies)}", "payload": "x"},
                              tokens[0])
            events = await poll
            latencies.append(time.perf_counter() - started)
            since = events[-1]["id"]
        sender.close()
        poller.close()
        return latencies


def run(quick: bool) -> list[SummaryRow]:
    print_header("relay stores and HTTP", quick)
    n, seconds = (300, 2.0) if quick else (3000, 10.0)
    rates: dict[str, float] = {}
    redis = _start_redis()
    with tempfile.TemporaryDirectory() as tmp:
        specs = {"memory": "memory", "sqlite": f"sqlite:{Path(tmp) / 'bench.db'}"}
        if redis is not None:
            specs["redis"] = redis[1]
        try:
            for name, spec in specs.items():
                async def measure(spec: str = spec) -> float:
                    async with open_store(spec) as store:
                        return await _cycle_rate(store, n, seconds)

                rates[name] = asyncio.run(measure())
        finally:
            if redis is not None:
                redis[0].terminate()
                redis[0].wait(10)
    latencies = asyncio.run(_e2e_latencies(200 if quick else 2000, seconds))
    timings = Timings(tuple(latencies))
    p50, p99 = timings.median * 1000, percentile(latencies, 99) * 1000
    print(text_table(["case", "result"], [
        *[(f"{k}: append+read+ack", f"{v:,.0f} msg/s") for k, v in rates.items()],
        ("HTTP send -> parked poll, p50", f"{p50:.2f} ms"),
        ("HTTP send -> parked poll, p99", f"{p99:.2f} ms"),
    ]))
    rows = [SummaryRow("relay", f"{k} store cycle", f"{v:,.0f} msg/s", "sequential XADD (research)",
                       v / RESEARCH_XADD_PER_S, "informative") for k, v in rates.items()]
    rows.append(SummaryRow("relay", "HTTP send -> poll p50", f"{p50:.2f} ms", "research p50 (10 pairs)",
                           p50 / RESEARCH_E2E_P50_MS, "informative"))
    return rows


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    os.environ.setdefault("PYTHONASYNCIODEBUG", "0")
    run(args.quick)
