"""The settings feature's communication contract: what it says and what it hears.

Emitted
    SETTINGS_LOADED        {settings}                                    MEDIUM, once loaded
    SETTINGS_CHANGED       {key, value, settings}                        MEDIUM, after each persisted change
    SIGNALING_URL_CHANGED  {url, custom}                                 HIGH, whenever the effective relay
                           URL changes, and once on APP_READY (so later features learn it)
    SIGNALING_URL_TESTED   {url, ok, latency_ms, reason, version}        MEDIUM, after each URL test
    SETTINGS_SAVE_FAILED   {key, reason}                                 HIGH, a change was refused or could
                           not be written; the previous value is kept
Heard
    APP_READY              announce the effective relay URL (after loading, if still loading)

``settings`` is ``{"theme": "light"|"dark"|"system", "notifications": bool,
"signaling_url": str | None}`` (None: the default relay). ``url`` in SIGNALING_URL_CHANGED is
the effective URL (never None); ``custom`` tells whether the user chose it. ``latency_ms`` is
the round trip of ``GET <url>/health`` when an answer arrived, else None; ``reason`` is None
exactly when ``ok``; ``version`` is the relay's reported version, if any.

Commands the settings actor accepts (``fire(actor, ...)`` from UI code)
    SET_THEME(theme) SET_NOTIFICATIONS(enabled) SET_SIGNALING_URL(url) RESET_SIGNALING_URL
    TEST_SIGNALING_URL(url=None) RETRY
"""

from __future__ import annotations

__all__ = [
    "APP_READY",
    "EMITTED",
    "SETTINGS_CHANGED",
    "SETTINGS_LOADED",
    "SETTINGS_SAVE_FAILED",
    "SIGNALING_URL_CHANGED",
    "SIGNALING_URL_TESTED",
    "SUBSCRIBED",
]

SETTINGS_LOADED = "SETTINGS_LOADED"
SETTINGS_CHANGED = "SETTINGS_CHANGED"
SIGNALING_URL_CHANGED = "SIGNALING_URL_CHANGED"
SIGNALING_URL_TESTED = "SIGNALING_URL_TESTED"
SETTINGS_SAVE_FAILED = "SETTINGS_SAVE_FAILED"

APP_READY = "APP_READY"

EMITTED = (SETTINGS_LOADED, SETTINGS_CHANGED, SIGNALING_URL_CHANGED, SIGNALING_URL_TESTED, SETTINGS_SAVE_FAILED)
SUBSCRIBED = (APP_READY,)
