"""What a passphrase is, as bytes for the KDF, and what a new one must be.

Every passphrase is NFKC-normalised before it is encoded (UTF-8) and derived, so the same
passphrase typed differently gives the same key: precomposed ``é`` and ``e`` + combining acute,
full-width ``ｐａｓｓ`` from an East Asian IME and ASCII ``pass``, a no-break or ideographic space
and a plain one, the ``ﬁ`` ligature and ``fi``. NFKC (not NFC) because a user cannot see which
of these forms a keyboard or a paste produced, and a passphrase that opens the database on one
machine must open it on the next; the handful of look-alikes it merges costs a negligible part of
the search space. Nothing else is changed: no trimming, no case folding, no truncation.

The policy (:func:`check_new_passphrase`) applies only when a passphrase is set or changed. An
unlock attempt is normalised but never refused by policy, so raising the minimum later does not
lock anyone out.

Minimum length: 12 characters after normalisation by default (``AuthConfig.min_passphrase_length``).
NIST SP 800-63B asks for at least 8 (15 when the passphrase is the only factor); here the stored
verifier and the encrypted database allow offline guessing, slowed only by Argon2id, so length is
the defence that matters and 12 keeps a short passphrase possible without allowing a weak one.
No composition rules (NIST advises against them); at most 1024 characters, a sanity bound only.
"""

from __future__ import annotations

import unicodedata

from .errors import PassphrasePolicyError

__all__ = ["MAX_PASSPHRASE_LENGTH", "MIN_PASSPHRASE_LENGTH", "check_new_passphrase", "passphrase_bytes"]

MIN_PASSPHRASE_LENGTH = 12
MAX_PASSPHRASE_LENGTH = 1024


def _normalise(passphrase: object) -> str:
    if not isinstance(passphrase, str):
        raise PassphrasePolicyError("type", f"must be text, not {type(passphrase).__name__}")
    text = unicodedata.normalize("NFKC", passphrase)
    if not text:
        raise PassphrasePolicyError("empty", "is empty; type a passphrase")
    return text


def passphrase_bytes(passphrase: object) -> bytes:
    """The bytes the KDF derives from: NFKC, then UTF-8. Refuses only what cannot be encoded."""
    text = _normalise(passphrase)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise PassphrasePolicyError("encoding", "contains an unpaired surrogate; it cannot be encoded") from None


def check_new_passphrase(passphrase: object, *, min_length: int = MIN_PASSPHRASE_LENGTH) -> str:
    """The passphrase NFKC-normalised, or :class:`PassphrasePolicyError` naming the rule broken."""
    text = _normalise(passphrase)
    passphrase_bytes(text)
    if text.isspace():
        raise PassphrasePolicyError("whitespace", "is only spaces; use words or characters you can see")
    if len(text) < min_length:
        raise PassphrasePolicyError("too_short", f"is {len(text)} characters; use at least {min_length} "
                                    "(a few unrelated words are easy to remember)")
    if len(text) > MAX_PASSPHRASE_LENGTH:
        raise PassphrasePolicyError("too_long", f"is {len(text)} characters; at most {MAX_PASSPHRASE_LENGTH}")
    for position, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc":
            raise PassphrasePolicyError("control", f"has a control character U+{ord(ch):04X} at position "
                                        f"{position + 1} (a pasted tab or line break?)")
    return text
