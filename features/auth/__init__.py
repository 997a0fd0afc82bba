"""Auth: unlocking a profile with a passphrase, remember-me through the OS keyring, and the
session timeout.

The pure parts come first, as private modules: ``_passphrase`` (NFKC normalisation and the policy
for new passphrases), ``_kdf`` (Argon2id, the database key and verifier, the versioned record),
``_throttle`` (the rising delay after wrong passphrases), ``_unlock`` (a login without storage,
off the event loop), ``_remember`` (the OS keyring, refusing insecure backends), ``_session``
(idle timeout), ``_config`` (the settings record), with ``errors`` and ``events``. This package
becomes the feature's contract (``feature = Feature(...)``) when its machine, forms and the wiring
to persistence and identity are written; until then it exports nothing and is in no feature list.
"""

__all__: list[str] = []
