"""The auth feature's own configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

from ._params import DEFAULT_PARAMS, KdfParams
from ._passphrase import MIN_PASSPHRASE_LENGTH
from ._throttle import DEFAULT_BASE_S, DEFAULT_CAP_S

__all__ = ["AuthConfig"]


@dataclass(frozen=True)
class AuthConfig:
    """``session_timeout_s``: idle seconds before an automatic logout (0: never; 15 min by default,
    OWASP's upper range for low-risk applications). ``remember_me``: keep the derived key in the OS
    keyring; off unless asked for, and refused without a secure keyring. ``argon2_*``: the current
    key-derivation cost (see ``_kdf``); raising it upgrades each profile at its next login and
    lowering it never weakens a stored record. ``min_passphrase_length``: applies to new
    passphrases only. ``retry_delay_*``: the rising delay after wrong passphrases."""

    session_timeout_s: float = 900.0
    remember_me: bool = False
    min_passphrase_length: int = MIN_PASSPHRASE_LENGTH
    argon2_memory_kib: int = DEFAULT_PARAMS.memory_kib
    argon2_iterations: int = DEFAULT_PARAMS.iterations
    argon2_lanes: int = DEFAULT_PARAMS.lanes
    retry_delay_base_s: float = DEFAULT_BASE_S
    retry_delay_cap_s: float = DEFAULT_CAP_S

    @property
    def kdf_params(self) -> KdfParams:
        """The current parameters, checked (:class:`KdfRecordError` names a bad one)."""
        return KdfParams(self.argon2_memory_kib, self.argon2_iterations, self.argon2_lanes)
