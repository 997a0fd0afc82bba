"""Forwarded headers are believed only from proxies the operator names.

Before, uvicorn trusted X-Forwarded-For from any loopback peer, so behind a local TLS proxy
every client could name its own address and escape the per-address limit (2,500 requests
with 10 forged addresses got no 429).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkernel.relay import ConfigError, EmbeddedRelay, RelayConfig

pytestmark = pytest.mark.anyio

TIGHT = RelayConfig(burst_per_address=3, rate_per_address=0.001)


async def _connect_attempts(relay: EmbeddedRelay, forwarded: list[str]) -> list[int]:
    """One /connect per forwarded value (an empty body: refused 422 once charged)."""
    async with httpx.AsyncClient(base_url=relay.url) as http:
        return [(await http.post("/connect", json={}, headers={"X-Forwarded-For": xff})).status_code
                for xff in forwarded]


async def test_forged_forwarded_addresses_are_ignored_by_default(anyio_backend: str) -> None:
    async with EmbeddedRelay.start("memory", config=TIGHT) as relay:
        statuses = await _connect_attempts(relay, [f"203.0.113.{i}" for i in range(10)])
    assert statuses[:3] == [422, 422, 422]
    assert statuses[3:] == [429] * 7  # all charged to 127.0.0.1, the real peer


async def test_a_trusted_proxy_gives_each_client_its_own_budget(anyio_backend: str) -> None:
    config = TIGHT.replace(trusted_proxies=("127.0.0.1",))
    async with EmbeddedRelay.start("memory", config=config) as relay:
        statuses = await _connect_attempts(relay, [f"203.0.113.{i}" for i in range(10)])
        # A client behind the proxy that sends its own X-Forwarded-For cannot pick its address:
        # the proxy appends the peer it saw, and the rightmost untrusted entry counts.
        forged = await _connect_attempts(relay, [f"198.51.100.{i}, 192.0.2.7" for i in range(6)])
    assert statuses == [422] * 10
    assert forged == [422, 422, 422, 429, 429, 429]


def test_trusted_proxies_must_be_addresses() -> None:
    assert RelayConfig(trusted_proxies=["10.0.0.0/8", " ::1 "]).trusted_proxies == ("10.0.0.0/8", "::1")
    for bad in (["*"], ["proxy.example"], "127.0.0.1", [""]):
        with pytest.raises(ConfigError) as info:
            RelayConfig(trusted_proxies=bad)  # type: ignore[arg-type]
        assert info.value.field == "trusted_proxies"


def test_the_cli_passes_trusted_proxies(relay_process: Any, tmp_path: Path) -> None:
    proc = relay_process("proxied", "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8",
                         "--burst-per-address", "2", "--rate-per-address", "0.001")
    proc.wait_ready()
    with httpx.Client(base_url=proc.url) as http:
        statuses = [http.post("/connect", json={}, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(4)]
    assert statuses == [422] * 4


def test_the_cli_refuses_a_bad_proxy(relay_process: Any) -> None:
    proc = relay_process("bad-proxy", "--trusted-proxy", "everyone")
    assert proc.proc.wait(30) == 2
    assert "trusted proxy 'everyone' is not an IP address or network" in proc.output()
    assert "Traceback" not in proc.output()
