"""The relay client's CPU per request: aiohttp (what signaling uses) beside httpx, same relay.

Each message costs its sender one ``POST /send`` and its recipient one ``POST /poll`` answer, so
the HTTP client's own CPU is paid twice per message in the client process. Both clients here
make the same sequential ``POST /send`` requests (a bearer token, a small JSON body, keep-alive
on one connection) to one relay process on 127.0.0.1, and the figure is this process's CPU time
per request (``time.process_time``), the relay's time excluded. The aiohttp run goes through
``features.signaling.client.RelayClient`` itself, so it includes our request and answer
handling; the httpx run is a bare ``httpx.AsyncClient.post`` (its best case).

Run alone: ``.venv/bin/python bench/bench_relay_client.py [--quick]`` (a few seconds).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import httpx

import _relay_load as L
from _util import SummaryRow, print_header

from features.signaling.client import RelayClient

FULL, QUICK = 2000, 300  # requests per client, after 50 of warm-up


RUN = uuid.uuid4().hex[:8]  # message ids unique across both clients' runs


def _body(user: str, n: int, tag: str) -> dict[str, object]:
    return {"from": user, "to": user, "id": f"{RUN}-{tag}-{n}", "payload": {"text": "x" * 64}}


async def _ours(url: str, token: str, user: str, count: int, tag: str) -> float:
    client = RelayClient(url)
    client.token = token
    try:
        for n in range(-50, count):
            if n == 0:
                started = time.process_time()
            await client.send(user, user, f"{RUN}-{tag}-{n}", {"text": "x" * 64})
        return (time.process_time() - started) / count
    finally:
        await client.aclose()


async def _httpx(url: str, token: str, user: str, count: int, tag: str) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        for n in range(-50, count):
            if n == 0:
                started = time.process_time()
            (await client.post("/send", json=_body(user, n, tag), headers=headers)).raise_for_status()
        return (time.process_time() - started) / count


async def _all(count: int) -> list[SummaryRow]:
    with L.scratch_dir() as workdir, L.relay_process(workdir=workdir) as relay:
        http = await L.RawHTTP.open(relay.port)
        try:
            [(user, token)] = await L.connect_users(http, 1)
        finally:
            await http.close()
        # Alternate, twice each, so a noisy neighbour hits both alike; keep each one's best run.
        ours, peer = [], []
        for round_ in range(2):
            ours.append(await _ours(relay.url, token, user, count, f"a{round_}"))
            peer.append(await _httpx(relay.url, token, user, count, f"h{round_}"))
    best_ours, best_peer = min(ours), min(peer)
    print(f"   POST /send, {count} sequential requests, client CPU per request: "
          f"aiohttp (RelayClient) {best_ours * 1e3:.3f} ms, httpx {best_peer * 1e3:.3f} ms, "
          f"httpx / aiohttp {best_peer / best_ours:.1f}x")
    return [SummaryRow("relay client", "client CPU per request (POST /send, keep-alive)",
                       f"{best_ours * 1e3:.2f} ms", f"httpx {best_peer * 1e3:.2f} ms", best_peer / best_ours,
                       "informative")]


def run(quick: bool) -> list[SummaryRow]:
    print_header("relay client: CPU per request, aiohttp beside httpx", quick)
    return L.run_terminable(lambda: _all(QUICK if quick else FULL))


if __name__ == "__main__":
    run("--quick" in sys.argv)
