"""Liveness (``/health``) apart from readiness (``/ready``): a node whose store is down is
alive but must not get traffic. Before, ``/health`` answered 200 while Redis was down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkernel.relay import EmbeddedRelay, SERVICE_NAME

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("store_spec", ["memory", "sqlite"], indirect=True)
async def test_ready_names_the_store(store_spec: str, test_config: Any) -> None:
    async with EmbeddedRelay.start(store_spec, config=test_config) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        ready = await http.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "store": relay.store.backend})
        assert (await http.get("/health")).json()["service"] == SERVICE_NAME


@pytest.mark.redis
async def test_redis_down_is_alive_but_not_ready(private_redis: Any, test_config: Any) -> None:
    async with EmbeddedRelay.start(private_redis.url, config=test_config) as relay, \
            httpx.AsyncClient(base_url=relay.url, timeout=10) as http:
        assert (await http.get("/ready")).json() == {"ready": True, "store": "redis"}
        private_redis.stop()
        ready = await http.get("/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
        assert ready.json() == {"error": "store_unavailable", "detail": "the redis store does not answer (ConnectionError)",
                                "ready": False, "store": "redis", "reason": "ConnectionError"}
        assert "127.0.0.1" not in ready.text  # the backend's own message stays in the log
        assert (await http.get("/health")).status_code == 200


async def test_sqlite_that_cannot_be_read_is_not_ready(tmp_path: Path, test_config: Any) -> None:
    db = tmp_path / "relay.db"
    async with EmbeddedRelay.start(f"sqlite:{db}", config=test_config) as relay, \
            httpx.AsyncClient(base_url=relay.url) as http:
        await relay.store.close()  # as if the file's connection were lost
        ready = await http.get("/ready")
        assert (ready.status_code, ready.json()["error"], ready.json()["reason"]) == (503, "store_unavailable", "closed")
        await relay.store.open()
        assert (await http.get("/ready")).status_code == 200
