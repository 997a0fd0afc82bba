"""Fixed identities, so failures reproduce: keys from constant seeds, never from the OS."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from features.identity._record import Identity


def fixed_identity(n: int, name: str) -> Identity:
    seed = bytes((n * 7 + i) % 256 for i in range(32))
    other = bytes((n * 13 + 3 * i + 1) % 256 for i in range(32))
    return Identity(Ed25519PrivateKey.from_private_bytes(seed), X25519PrivateKey.from_private_bytes(other), name)


@pytest.fixture
def alice() -> Identity:
    return fixed_identity(1, "Alice")


@pytest.fixture
def bob() -> Identity:
    return fixed_identity(2, "Bob")


@pytest.fixture
def mallory() -> Identity:
    return fixed_identity(3, "Mallory")
