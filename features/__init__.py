"""The app's features, one package each (``features/<id>/``).

``FEATURES`` below is the app's feature list (the seed's ``bootstrap.js``): one line per
feature, read when the app boots, so adding a line needs no reinstall. ``bootstrap()`` with no
arguments registers these and any third-party features installed under the
``chatkernel.features`` entry-point group. Importing this package imports no feature.
"""

__all__ = ["FEATURES"]

FEATURES = (
    "features.persistence",
    "features.identity",
    "features.crypto",
    "features.auth",
    "features.settings",
    "features.signaling",
    "features.messaging",
    "features.contacts",
    "features.groups",
    "features.chat",
    "features.notifications",
    "features.shell",
)
