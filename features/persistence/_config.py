"""The persistence feature's own configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PersistenceConfig"]


@dataclass(frozen=True)
class PersistenceConfig:
    """``profiles_dir`` None means ``platformdirs.user_data_dir("chatkernel")/profiles``; each
    profile gets ``<profiles_dir>/<profile>/chat.db``. ``busy_timeout_s`` is how long a statement
    waits for another connection's lock before :class:`DatabaseLockedError`."""

    profiles_dir: str | None = None
    default_profile: str = "default"
    busy_timeout_s: float = 5.0
