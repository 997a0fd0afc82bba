"""The identity feature's own configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IdentityConfig"]


@dataclass(frozen=True)
class IdentityConfig:
    """``allow_insecure_remote``: accept and make invites naming a plain-http relay on another
    host. The app's switch is the settings feature's, announced with ``SIGNALING_URL_CHANGED``,
    which overrides this default once heard; it is here for apps without the settings feature."""

    allow_insecure_remote: bool = False
