"""Cheap KDF parameters (tests check behaviour, not cost), a fake monotonic clock, and an
in-memory keyring backend: a legitimate test double for the OS service, installed with
``keyring.set_keyring`` for one test and the previous backend put back after it."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from features.auth._kdf import KdfParams

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)
FASTER_THAN_FAST = KdfParams(memory_kib=32, iterations=1, lanes=1)


class MemoryKeyring(KeyringBackend):
    """A secure-looking backend (priority 5, like Secret Service) that keeps entries in a dict."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("no such entry")
        del self.entries[(service, username)]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
