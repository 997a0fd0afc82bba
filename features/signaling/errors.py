"""Errors of the signaling feature::

    SignalingError(ChatKernelError)
    ├── InsecureURLError      a plain http:// URL to a non-loopback host (url)
    ├── InvalidURLError       not an http(s) URL with a host (url, reason)
    ├── RelayRequestError     the relay answered an error (status, code, detail, retry_after, field,
    │   │                     reason); ``transient`` says whether a retry can help
    │   ├── KeyUploadError    POST /keys refused for good: bad_prekey_signature, stale_prekey,
    │   │                     too_many_prekeys, invalid_field, forbidden, body_too_large (code,
    │   │                     detail, field)
    │   └── NoBundleError     GET /keys/{userId} found no bundle: unknown_user or no_prekeys
    │                         (user_id, code)
    ├── RelayTransportError   no answer: the relay is unreachable, closed the connection or timed
    │                         out (method, path, cause, sent); worth a retry
    ├── InvalidBundleError    the relay's bundle is malformed or its signed prekey does not verify
    │                         (user_id, field, reason); never use such keys
    └── NotConnectedError     an operation needs a connection that is not there
        └── NoIdentityError   no identity is loaded (sign up or log in first)
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["InsecureURLError", "InvalidBundleError", "InvalidURLError", "KeyUploadError", "NoBundleError",
           "NoIdentityError", "NotConnectedError", "RelayRequestError", "RelayTransportError", "SignalingError"]


class SignalingError(ChatKernelError):
    """Base of every signaling error."""


class InvalidURLError(SignalingError):
    def __init__(self, url: object, reason: str):
        super().__init__(f"invalid relay URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class InsecureURLError(SignalingError):
    def __init__(self, url: str):
        super().__init__(f"refusing plain http:// to a non-loopback host ({url}); use https:// or the allow_insecure_remote setting")
        self.url = url


class RelayRequestError(SignalingError):
    def __init__(self, status: int, code: str, detail: str, *, retry_after: float | None = None,
                 field: str | None = None, reason: str | None = None):
        super().__init__(f"relay answered {status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.field = field
        self.reason = reason

    @property
    def transient(self) -> bool:
        """Worth retrying with the same message id: overload, rate limits, server errors."""
        return self.status in (429, 503) or self.status >= 500

    @classmethod
    def from_error(cls, error: RelayRequestError, **extra: object) -> RelayRequestError:
        """The same refusal as a more precise class (``extra`` goes to its constructor)."""
        return cls(error.status, error.code, error.detail, retry_after=error.retry_after, field=error.field,
                   reason=error.reason, **extra)  # type: ignore[arg-type]


class RelayTransportError(SignalingError):
    """A request got no answer. ``sent`` is False when it surely never reached the relay (the
    connection was refused or not made in time): then even a request that must not run twice,
    such as a bundle fetch that takes a one-time prekey, can be repeated."""

    def __init__(self, method: str, path: str, cause: str, *, sent: bool):
        super().__init__(f"{method} {path}: no answer from the relay ({cause})")
        self.method = method
        self.path = path
        self.cause = cause
        self.sent = sent


class KeyUploadError(RelayRequestError):
    """The relay refused ``POST /keys`` for good; nothing of the upload was stored. Act on
    ``code`` (``bad_prekey_signature``, ``stale_prekey``, ``too_many_prekeys``, ...)."""

    def __init__(self, status: int, code: str, detail: str, **kw: object):
        super().__init__(status, code, detail, **kw)  # type: ignore[arg-type]
        self.args = (f"relay refused the key upload: {status} {code}: {detail}",)


class NoBundleError(RelayRequestError):
    """``GET /keys/{userId}`` has no bundle to give: the user never connected to this relay
    (``unknown_user``) or has not uploaded a signed prekey (``no_prekeys``)."""

    def __init__(self, status: int, code: str, detail: str, *, user_id: str = "", **kw: object):
        super().__init__(status, code, detail, **kw)  # type: ignore[arg-type]
        self.user_id = user_id
        self.args = (f"no prekey bundle for {user_id}: {status} {code}: {detail}",)


class InvalidBundleError(SignalingError):
    """The relay answered a bundle that is not well formed or whose signed prekey's signature
    does not verify with the bundle's identity key: refused, whatever the relay says."""

    def __init__(self, user_id: str, field: str, reason: str):
        super().__init__(f"refusing the relay's bundle for {user_id}: {field}: {reason}")
        self.user_id = user_id
        self.field = field
        self.reason = reason


class NotConnectedError(SignalingError):
    def __init__(self, message: str = "not connected to a relay"):
        super().__init__(message)


class NoIdentityError(NotConnectedError):
    """Connecting needs the loaded identity (its keys sign the ``/connect`` proof)."""

    def __init__(self, message: str = "no identity is loaded: sign up or log in first"):
        super().__init__(message)
