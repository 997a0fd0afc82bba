"""Standard-library logging for the kernel: quiet by default, one call to turn it on."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

logging.getLogger("chatkernel").addHandler(logging.NullHandler())


def configure_logging(level: int | str = "INFO") -> logging.Logger:
    """Attach one stderr handler to the ``chatkernel`` logger (idempotent)."""
    logger = logging.getLogger("chatkernel")
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ValueError(f"unknown log level {level!r}")
        level = resolved
    logger.setLevel(level)
    if not any(getattr(h, "_chatkernel", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._chatkernel = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger
