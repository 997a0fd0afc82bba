"""Errors of the shell feature, one base class::

    ShellError(ChatKernelError)
    ├── UnknownRouteError   a view the window does not have (route)
    └── SignedOutError      a view that needs a profile, asked for while signed out
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["ShellError", "SignedOutError", "UnknownRouteError"]


class ShellError(ChatKernelError):
    """Base of every shell error."""


class UnknownRouteError(ShellError):
    def __init__(self, route: object, routes: tuple[str, ...]):
        self.route = route
        super().__init__(f"no view {route!r}: the window has {', '.join(routes)}")


class SignedOutError(ShellError):
    def __init__(self, route: str):
        self.route = route
        super().__init__(f"sign in first to see {route}")
