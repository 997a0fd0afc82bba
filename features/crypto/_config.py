"""The crypto feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CryptoConfig"]


@dataclass(frozen=True)
class CryptoConfig:
    """``one_time_prekeys``: how many one-time prekeys the relay should hold after a refill (at
    most 100 go in one upload); ``refill_below``: below this relay count, ``PREKEYS_LOW``.
    ``max_stored_one_time_prekeys``: private one-time prekeys kept locally (the relay keeps at
    most 1,000); the oldest uploaded ones go first. ``signed_prekey_max_age_s``: the signed
    prekey is replaced at the next upload once older; the previous one is kept for initiators
    that fetched it just before. ``max_skip`` / ``max_skipped_keys``: the ratchet's DoS bounds
    (per message / per session), also used for groups. ``previous_sessions``: per peer, how many
    sessions replaced by a newer X3DH are kept and tried (Signal keeps 40; two first messages
    that cross need one)."""

    one_time_prekeys: int = 100
    refill_below: int = 20
    max_stored_one_time_prekeys: int = 1000
    signed_prekey_max_age_s: int = 7 * 24 * 3600
    max_skip: int = 1000
    max_skipped_keys: int = 2000
    previous_sessions: int = 5
