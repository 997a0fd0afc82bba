"""The settings feature's communication contract: what it says and what it hears.

``settings`` payloads are ``{"theme": "light"|"dark"|"system", "notifications": bool,
"signaling_url": str | None}`` (None: the default relay). ``url`` in SIGNALING_URL_CHANGED is
the effective URL, already checked against the one relay-URL policy with the
``allow_insecure_remote`` flag it carries. ``reason`` in SIGNALING_URL_TESTED is None exactly
when ``ok``.

Commands the settings actor accepts (``fire(actor, ...)`` from UI code)
    SET_THEME(theme) SET_NOTIFICATIONS(enabled) SET_SIGNALING_URL(url) RESET_SIGNALING_URL
    TEST_SIGNALING_URL(url=None) RETRY
"""

from __future__ import annotations

from typing import Any

from chatkernel import EventSpec

__all__ = [
    "EMITTED",
    "SETTINGS_CHANGED",
    "SETTINGS_LOADED",
    "SETTINGS_SAVE_FAILED",
    "SIGNALING_URL_CHANGED",
    "SIGNALING_URL_TESTED",
    "SUBSCRIBED",
]

SETTINGS_LOADED = EventSpec("SETTINGS_LOADED", "MEDIUM", "the settings were read (or defaulted) and are in use",
                            {"settings": dict[str, Any]})
SETTINGS_CHANGED = EventSpec("SETTINGS_CHANGED", "MEDIUM", "one setting was changed and persisted",
                             {"key": str, "value": Any, "settings": dict[str, Any]})
SIGNALING_URL_CHANGED = EventSpec(
    "SIGNALING_URL_CHANGED", "HIGH",
    "the effective relay URL, whenever it changes and once on APP_READY",
    {"url": str, "custom": bool, "allow_insecure_remote": bool})
SIGNALING_URL_TESTED = EventSpec(
    "SIGNALING_URL_TESTED", "MEDIUM", "the outcome of probing a relay URL's /health",
    {"url": str, "ok": bool, "latency_ms": float | None, "reason": str | None, "version": str | None})
SETTINGS_SAVE_FAILED = EventSpec("SETTINGS_SAVE_FAILED", "HIGH",
                                 "a change was refused or could not be written; the previous value is kept",
                                 {"key": str | None, "reason": str})

EMITTED = (SETTINGS_LOADED, SETTINGS_CHANGED, SIGNALING_URL_CHANGED, SIGNALING_URL_TESTED, SETTINGS_SAVE_FAILED)
#: APP_READY: announce the effective relay URL (after loading, if still loading).
SUBSCRIBED = ("APP_READY",)
