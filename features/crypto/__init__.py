"""Crypto: X3DH session setup and the Double Ratchet, built only on ``cryptography``.

The protocol core lives in private modules (``_x3dh``, ``_ratchet``, ``_state``, ``_kdf``,
``_keys``); the feature contract (``feature = Feature(...)``) comes with the crypto machine.
Nothing is registered or computed at import.
"""

__all__: list[str] = []
