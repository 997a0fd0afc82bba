"""Argon2id cost parameters, kept apart from the derivation so that reading the settings record
(``_config``) imports no cryptography. ``_kdf`` explains the choice of :data:`DEFAULT_PARAMS`."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import KdfRecordError

__all__ = ["DEFAULT_PARAMS", "KdfParams", "OWASP_MINIMUM", "needs_upgrade", "upgraded_params"]

# Bounds on what a stored record may ask for: a tampered file must not make the KDF take 100 GiB.
_MEMORY_KIB = (8, 4 * 1024 * 1024)
_ITERATIONS = (1, 64)
_LANES = (1, 16)


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: ``memory_kib`` (KiB), ``iterations`` (t), ``lanes`` (p)."""

    memory_kib: int
    iterations: int
    lanes: int = 1

    def __post_init__(self) -> None:
        for name, (low, high) in (("memory_kib", _MEMORY_KIB), ("iterations", _ITERATIONS), ("lanes", _LANES)):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise KdfRecordError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        if self.memory_kib < 8 * self.lanes:
            raise KdfRecordError(f"memory_kib must be at least 8 x lanes ({8 * self.lanes}), got {self.memory_kib}")

    def work(self) -> int:
        """Memory x passes, the quantity an attacker pays per guess."""
        return self.memory_kib * self.iterations


OWASP_MINIMUM = KdfParams(memory_kib=19 * 1024, iterations=2, lanes=1)
DEFAULT_PARAMS = KdfParams(memory_kib=64 * 1024, iterations=3, lanes=1)


def needs_upgrade(stored: KdfParams, current: KdfParams) -> bool:
    """True when the stored memory or passes are below the current ones: re-derive and re-key."""
    return stored.memory_kib < current.memory_kib or stored.iterations < current.iterations


def upgraded_params(stored: KdfParams, current: KdfParams) -> KdfParams:
    """The current parameters, never below the stored ones in memory or passes."""
    return KdfParams(max(stored.memory_kib, current.memory_kib), max(stored.iterations, current.iterations),
                     current.lanes)
