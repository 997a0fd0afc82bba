"""Errors of the signaling feature::

    SignalingError(ChatKernelError)
    ├── InsecureURLError     a plain http:// URL to a non-loopback host (url)
    ├── InvalidURLError      not an http(s) URL with a host (url, reason)
    ├── RelayRequestError    the relay answered an error (status, code, detail, retry_after)
    └── NotConnectedError    an operation needs a connection that is not there
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["InsecureURLError", "InvalidURLError", "NotConnectedError", "RelayRequestError", "SignalingError"]


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


class NotConnectedError(SignalingError):
    def __init__(self, message: str = "not connected to a relay"):
        super().__init__(message)
