"""The messaging feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MessagingConfig"]


@dataclass(frozen=True)
class MessagingConfig:
    """``max_body_bytes``: the longest message body (UTF-8) a send accepts; sealed and base64url
    encoded it stays under the relay's 64 KiB body limit. ``upload_rounds``: at most this many
    ``POST /keys`` in a row to bring the relay's one-time prekeys back to crypto's target."""

    max_body_bytes: int = 32_000
    upload_rounds: int = 3
