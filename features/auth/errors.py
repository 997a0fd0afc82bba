"""Errors of the auth feature, each carrying the fields a caller needs to act on it::

    AuthError(ChatKernelError)
    ├── PassphrasePolicyError       a new passphrase breaks a rule (rule, reason); the message says how to fix it
    ├── AuthStateError              stored auth state that cannot be read or trusted (what, reason)
    │   ├── KdfRecordError              a key-derivation record (or its parameters)
    │   └── ThrottleStateError          a saved failure count
    ├── LoginError                  a login refused for now (profile, retry_after: seconds until the next try)
    │   ├── WrongPassphraseError        the passphrase does not match the profile's verifier (failures)
    │   └── LoginThrottledError         tried before the delay after earlier failures had passed
    ├── RememberMeError             remember-me could not be used (profile, reason)
    │   ├── RememberMeUnavailableError  no secure OS keyring: none at all, or a null/fail/plaintext one (backend)
    │   └── RememberMeStorageError      the OS keyring refused to store, read or delete the entry (operation)
    ├── ProfileError                a profile name refused for this operation (profile, reason)
    │   ├── InvalidProfileNameError     not a valid profile name (the rules are in the message)
    │   ├── ProfileExistsError          sign-up to a profile that already exists: nothing was touched
    │   └── UnknownProfileError         log-in to a profile that has no auth record on this machine
    ├── SessionStateError           the operation does not fit the session's state (operation, state)
    └── ProfileAccessError          the profile's database or identity could not be used (profile, code, reason)

Each error that ends a login or a sign-up names its ``AUTH_FAILED`` reason in ``failure``.

No error carries a passphrase, a key or a verifier: they are safe to log and to show.
"""

from __future__ import annotations

import math

from chatkernel import ChatKernelError

__all__ = [
    "AuthError",
    "AuthStateError",
    "InvalidProfileNameError",
    "KdfRecordError",
    "LoginError",
    "LoginThrottledError",
    "PassphrasePolicyError",
    "ProfileAccessError",
    "ProfileError",
    "ProfileExistsError",
    "RememberMeError",
    "RememberMeStorageError",
    "RememberMeUnavailableError",
    "SessionStateError",
    "ThrottleStateError",
    "UnknownProfileError",
    "WrongPassphraseError",
]


class AuthError(ChatKernelError):
    """Base of every auth error. ``failure`` is the ``AUTH_FAILED`` reason it is reported as."""

    failure = "storage_error"


class PassphrasePolicyError(AuthError):
    """``rule`` is a stable code (``type``, ``empty``, ``whitespace``, ``too_short``, ``too_long``,
    ``control``, ``encoding``) for the UI to branch on; ``reason`` is shown to the user verbatim."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"passphrase refused: {reason}")
        self.rule = rule
        self.failure = "invalid_passphrase"
        self.reason = reason


class AuthStateError(AuthError):
    """Raised instead of guessing, so damaged state is never replaced by a fresh default."""

    failure = "damaged_record"

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
    failure = "wrong_passphrase"

    def __init__(self, profile: str, *, retry_after: float, failures: int):
        super().__init__(f"wrong passphrase for profile {profile!r}; {_wait(retry_after)}",
                         profile=profile, retry_after=retry_after)
        self.failures = failures


class LoginThrottledError(LoginError):
    """No passphrase was tried: nothing was derived and the failure count is unchanged."""

    failure = "throttled"

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


class ProfileError(AuthError):
    def __init__(self, message: str, *, profile: object, reason: str):
        super().__init__(message)
        self.profile = profile
        self.reason = reason


class InvalidProfileNameError(ProfileError):
    failure = "invalid_profile"

    def __init__(self, profile: object, reason: str):
        super().__init__(f"invalid profile name {profile!r}: {reason}", profile=profile, reason=reason)


class ProfileExistsError(ProfileError):
    """Sign-up never writes into an existing profile directory: log in to it, or pick another name."""

    failure = "profile_exists"

    def __init__(self, profile: str):
        super().__init__(f"profile {profile!r} already exists on this machine; log in to it or choose another name",
                         profile=profile, reason="already exists")


class UnknownProfileError(ProfileError):
    failure = "unknown_profile"

    def __init__(self, profile: str):
        super().__init__(f"no profile {profile!r} on this machine (sign up to create it)", profile=profile,
                         reason="no such profile")


class SessionStateError(AuthError):
    """For example a login while a profile is unlocked: log out first."""

    failure = "busy"

    def __init__(self, operation: str, state: str, hint: str = ""):
        super().__init__(f"cannot {operation} while {state}" + (f"; {hint}" if hint else ""))
        self.operation = operation
        self.state = state


class ProfileAccessError(AuthError):
    """``code`` is ``storage_error`` (the database would not open or close) or ``identity_error``
    (the identity could not be made or loaded); ``reason`` is the underlying error's own text."""

    def __init__(self, profile: str, code: str, reason: str):
        super().__init__(f"profile {profile!r}: {reason}")
        self.profile = profile
        self.code = code
        self.failure = code
        self.reason = reason
