"""Shared test configuration: async tests run on asyncio through anyio's pytest plugin, and
every app the suite boots validates each payload against its spec (strict mode)."""

import os

import pytest

os.environ.setdefault("CHATKERNEL_STRICT", "1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
