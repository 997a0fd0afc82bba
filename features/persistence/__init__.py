"""Persistence: one SQLCipher-encrypted SQLite database per profile, reached through one thread.

Other features keep their tables here: they declare versioned migrations and work in
transactions (``async with service.transaction() as tx``), so a ratchet step and the message it
protects commit together. The database opens when a 32-byte key is handed to the service
(``await service.open(key, profile)``) and says so with ``PERSISTENCE_OPENED``. ``api.py`` holds
the Protocol a dependent copies into its own folder.
"""

from chatkernel import Feature

from . import events as _events
from ._config import PersistenceConfig as _PersistenceConfig
from ._mount import mount as _mount
from ._mount import status_panel as _status_panel
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="persistence",
    name="Persistence",
    version="1.0.0",
    description="Encrypted local database per profile, migrations and transactions",
    on_mount=_mount,
    on_unmount=_unmount,
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"PersistenceStatus": _status_panel},
    settings=_PersistenceConfig(),
)
