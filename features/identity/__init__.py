"""Identity: who a user is (keys, user id, display name), safety numbers, invite strings and
trust on first use.

The pure parts come first, as private modules: ``_safety`` (libsignal's 60-digit safety
number), ``_record`` (the identity record), ``_invite`` (invite strings and the bundle check),
``_qr`` (an invite as SVG), ``_trust`` (a contact's pinned key), with ``errors`` and ``events``.
This package becomes the feature's contract (``feature = Feature(...)``) when its machine and
service mount; until then it exports nothing and is in no feature list.
"""

__all__: list[str] = []
