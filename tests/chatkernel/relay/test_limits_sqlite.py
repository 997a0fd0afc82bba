"""Rate limits shared by relay processes on one SQLite file, in the ``-limits`` sidecar.

Slow limits (one request per 10 s) make bursts exact; where time matters the sidecar's clock
is injected.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, RelayConfig, SQLiteStore, StoreError
from chatkernel.relay._stores import _sqlite_limits
from chatkernel.relay._stores._sqlite_limits import SQLiteLimits

pytestmark = pytest.mark.anyio

SLOW = 0.1  # requests/s
REPO = Path(__file__).resolve().parents[3]


async def test_two_store_instances_on_one_file_share_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    async with SQLiteStore(path, shared_limits=True) as one, SQLiteStore(path, shared_limits=True) as two:
        limiters = [store.rate_limiter("user", SLOW, 3, max_keys=1) for store in (one, two)]
        started = time.monotonic()
        results = [await limiters[i % 2].check("alice") for i in range(6)]
        elapsed = time.monotonic() - started
        assert await limiters[1].check("bob") is None
        assert await one.rate_limiter("address", SLOW, 3, max_keys=1).check("alice") is None
    assert results[:3] == [None] * 3
    for retry in results[3:]:
        assert retry is not None and 10 - elapsed - 0.01 <= retry <= 10
    sidecar = tmp_path / "relay.db-limits"
    with sqlite3.connect(sidecar) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        keys = {k for (k,) in db.execute("SELECT key FROM gcra")}
    assert keys == {"user:alice", "user:bob", "address:alice"}
    with sqlite3.connect(path) as db:  # the mailbox database holds no limiter state
        assert "gcra" not in {name for (name,) in db.execute("SELECT name FROM sqlite_master")}


async def test_an_unshared_store_keeps_limits_in_process_and_makes_no_sidecar(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "relay.db") as store:
        limiter = store.rate_limiter("user", SLOW, 2, max_keys=4)
        assert [await limiter.check("a") for _ in range(3)][:2] == [None, None]
    assert not (tmp_path / "relay.db-limits").exists()


async def test_the_sidecar_sweeps_rows_whose_time_has_passed(tmp_path: Path, monkeypatch) -> None:
    now = [10**15]
    limits = SQLiteLimits(tmp_path / "x-limits", clock_us=lambda: now[0])
    monkeypatch.setattr(_sqlite_limits, "_PURGE_EVERY", 8)
    await limits.open()
    try:
        for i in range(7):
            assert await limits.take(f"k{i}", 1_000_000, 2_000_000) is None
        assert await limits.rows() == 7
        now[0] += 1_000_001  # every TAT has passed
        assert await limits.take("fresh", 1_000_000, 2_000_000) is None  # the 8th write sweeps
        assert await limits.rows() == 1
        now[0] += 1_000_001
        assert await limits.purge() == 1 and await limits.rows() == 0
    finally:
        await limits.close()
    with pytest.raises(StoreError, match="not open"):
        await limits.take("k", 1, 1)


async def test_a_closed_store_refuses_checks_with_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "relay.db", shared_limits=True)
    limiter = store.rate_limiter("user", 1, 1, max_keys=1)  # made before open, as the app does
    with pytest.raises(StoreError, match="rate-limit sidecar is not open"):
        await limiter.check("alice")
    async with store:
        assert await limiter.check("alice") is None
    with pytest.raises(StoreError):
        await limiter.check("alice")


_CHARGER = """
import asyncio, json, sys
from chatkernel.relay._stores._sqlite_limits import SQLiteLimits

async def main(path, n):
    limits = SQLiteLimits(path)
    await limits.open()
    print("READY", flush=True)
    sys.stdin.readline()
    try:
        allowed = [await limits.take("user:alice", 10_000_000, 50_000_000) is None for _ in range(n)]
    finally:
        await limits.close()
    print(json.dumps(sum(allowed)), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_two_processes_charging_one_key_together_get_one_burst(tmp_path: Path) -> None:
    path = str(tmp_path / "relay.db-limits")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _CHARGER, path, "200"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO, env=env) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        started = time.monotonic()
        for proc in procs:  # both start charging at once: the write lock is what orders them
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        allowed = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert 5 <= sum(allowed) <= 5 + elapsed / 10  # burst 5, one more per 10 s, across both


async def test_two_relays_on_one_file_count_one_limit_per_user(tmp_path: Path, client_for) -> None:
    config = RelayConfig(rate_per_user=SLOW, burst_per_user=4, rate_per_address=1000, burst_per_address=1000)
    path = tmp_path / "relay.db"
    async with SQLiteStore(path, shared_limits=True) as one, SQLiteStore(path, shared_limits=True) as two, \
            EmbeddedRelay.start(one, config=config) as node_a, EmbeddedRelay.start(two, config=config) as node_b, \
            httpx.AsyncClient(base_url=node_a.url) as on_a, httpx.AsyncClient(base_url=node_b.url) as on_b:
        alice = client_for(on_a)
        await alice.connect()
        started = time.monotonic()
        codes = [(await (on_a if i % 2 else on_b).post(
            "/poll", json={"userId": alice.user_id, "timeout": 0}, headers=alice.auth)).status_code
            for i in range(12)]
        elapsed = time.monotonic() - started
    assert 4 <= codes.count(200) <= 4 + SLOW * elapsed
    assert set(codes) == {200, 429}
