"""Errors of the auth feature, each carrying the fields a caller needs to act on it::

    AuthError(ChatKernelError)
    ├── PassphrasePolicyError       a new passphrase breaks a rule (rule, reason); the message says how to fix it
    ├── AuthStateError              stored auth state that cannot be read or trusted (what, reason)
    │   ├── KdfRecordError              a key-derivation record (or its parameters)
    │   └── ThrottleStateError          a saved failure count
    ├── LoginError                  a login refused for now (profile, retry_after: seconds until the next try)
    │   ├── WrongPassphraseError        the passphrase does not match the profile's verifier (failures)
    │   └── LoginThrottledError         tried before the delay after earlier failures had passed
    └── RememberMeError             remember-me could not be used (profile, reason)
        ├── RememberMeUnavailableError  no secure OS keyring: none at all, or a null/fail/plaintext one (backend)
        └── RememberMeStorageError      the OS keyring refused to store, read or delete the entry (operation)

No error carries a passphrase, a key or a verifier: they are safe to log and to show.
"""

from __future__ import annotations

import math

from chatkernel import ChatKernelError

__all__ = [
    "AuthError",
    "AuthStateError",
    "KdfRecordError",
    "LoginError",
    "LoginThrottledError",
    "PassphrasePolicyError",
    "RememberMeError",
    "RememberMeStorageError",
    "RememberMeUnavailableError",
    "ThrottleStateError",
    "WrongPassphraseError",
]


class AuthError(ChatKernelError):
    """Base of every auth error."""


class PassphrasePolicyError(AuthError):
    """``rule`` is a stable code (``type``, ``empty``, ``whitespace``, ``too_short``, ``too_long``,
    ``control``, ``encoding``) for the UI to branch on; ``reason`` is shown to the user verbatim."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"passphrase refused: {reason}")
        self.rule = rule
        self.reason = reason


class AuthStateError(AuthError):
    """Raised instead of guessing, so damaged state is never replaced by a fresh default."""

    what = "auth state"

    def __init__(self, reason: str):
        super().__init__(f"unreadable {self.what}: {reason}")
        self.reason = reason


class KdfRecordError(AuthStateError):
    what = "key-derivation record"


class ThrottleStateError(AuthStateError):
    what = "login throttle state"


class LoginError(AuthError):
    def __init__(self, message: str, *, profile: str, retry_after: float):
        super().__init__(message)
        self.profile = profile
        self.retry_after = retry_after


def _wait(retry_after: float) -> str:
    return "try again now" if retry_after <= 0 else f"try again in {math.ceil(retry_after)} s"


class WrongPassphraseError(LoginError):
    def __init__(self, profile: str, *, retry_after: float, failures: int):
        super().__init__(f"wrong passphrase for profile {profile!r}; {_wait(retry_after)}",
                         profile=profile, retry_after=retry_after)
        self.failures = failures


class LoginThrottledError(LoginError):
    """No passphrase was tried: nothing was derived and the failure count is unchanged."""

    def __init__(self, profile: str, *, retry_after: float):
        super().__init__(f"too many wrong passphrases for profile {profile!r}; {_wait(retry_after)}",
                         profile=profile, retry_after=retry_after)


class RememberMeError(AuthError):
    def __init__(self, message: str, *, profile: str | None, reason: str):
        super().__init__(message)
        self.profile = profile
        self.reason = reason


class RememberMeUnavailableError(RememberMeError):
    """``backend`` is the keyring backend's class path (``keyring.backends.fail.Keyring``)."""

    def __init__(self, reason: str, *, backend: str, profile: str | None = None):
        super().__init__(f"remember-me unavailable: {reason}", profile=profile, reason=reason)
        self.backend = backend


class RememberMeStorageError(RememberMeError):
    def __init__(self, operation: str, reason: str, *, profile: str | None):
        super().__init__(f"remember-me: the OS keyring could not {operation} the key for {profile!r}: {reason}",
                         profile=profile, reason=reason)
        self.operation = operation
