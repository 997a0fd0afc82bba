"""Settings: theme, notifications and the relay (signaling) URL, persisted per state directory.

Announces the effective relay URL with ``SIGNALING_URL_CHANGED`` (HIGH) on ``APP_READY`` and
whenever it changes, and can test a relay URL against its ``/health`` endpoint.
"""

from chatkernel import Feature

from . import events as _events
from ._config import SettingsConfig as _SettingsConfig
from ._mount import mount as _mount
from ._mount import settings_panel as _settings_panel
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="settings",
    name="Settings",
    version="1.0.0",
    description="User settings and the custom relay URL, with a connectivity test",
    on_mount=_mount,
    on_unmount=_unmount,
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"SettingsPanel": _settings_panel},
    settings=_SettingsConfig(),
)
