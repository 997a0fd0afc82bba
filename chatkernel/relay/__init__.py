"""The chatkernel relay: authenticated store-and-forward mailboxes for end-to-end encrypted chat.

``create_app`` builds the ASGI app; ``EmbeddedRelay`` serves it on a free loopback port from
a notebook; ``python -m chatkernel.relay`` (or ``chatkernel relay``) serves it from a shell.
Clients of a relay import :mod:`chatkernel.relay.protocol` (user ids, the ``/connect`` proof,
error codes, the relay-URL policy), which loads nothing of the server.

Importing this package starts nothing, opens nothing, configures no logging, and loads no
server module: each name below is imported on first use (PEP 562), so
``import chatkernel.relay.protocol`` stays free of starlette, uvicorn and the stores.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:  # the same names, eagerly, for type checkers (and for import-linter's graph)
    from ._app import create_app
    from ._config import RelayConfig
    from ._embedded import EmbeddedRelay
    from ._errors import (
        AuthenticationError,
        BodyTooLargeError,
        ConfigError,
        ConflictError,
        CursorAheadError,
        ForbiddenError,
        InvalidFieldError,
        InvalidJSONError,
        MailboxFullError,
        NoPrekeysError,
        PollCapacityError,
        PrekeySignatureError,
        RateLimitedError,
        RelayError,
        RelayURLError,
        RequestError,
        StoreError,
        StoreSpecError,
        TooManyPrekeysError,
    )
    from ._openapi import openapi_document
    from ._stores import AppendResult, MailboxStore, MemoryStore, RedisStore, SQLiteStore, StoredEvent, open_store
    from .protocol import SERVICE_NAME, check_relay_url, connect_request, derive_user_id, is_user_id

__all__ = [
    "AppendResult",
    "AuthenticationError",
    "BodyTooLargeError",
    "ConfigError",
    "ConflictError",
    "CursorAheadError",
    "EmbeddedRelay",
    "ForbiddenError",
    "InvalidFieldError",
    "InvalidJSONError",
    "MailboxFullError",
    "MailboxStore",
    "MemoryStore",
    "NoPrekeysError",
    "PollCapacityError",
    "PrekeySignatureError",
    "RateLimitedError",
    "RedisStore",
    "RelayConfig",
    "RelayError",
    "RelayURLError",
    "RequestError",
    "SERVICE_NAME",
    "SQLiteStore",
    "StoreError",
    "StoreSpecError",
    "StoredEvent",
    "TooManyPrekeysError",
    "check_relay_url",
    "connect_request",
    "create_app",
    "derive_user_id",
    "is_user_id",
    "open_store",
    "openapi_document",
]

_ERRORS = (
    "AuthenticationError", "BodyTooLargeError", "ConfigError", "ConflictError", "CursorAheadError",
    "ForbiddenError", "InvalidFieldError", "InvalidJSONError", "MailboxFullError", "NoPrekeysError",
    "PollCapacityError", "PrekeySignatureError", "TooManyPrekeysError",
    "RateLimitedError", "RelayError", "RelayURLError", "RequestError", "StoreError",
    "StoreSpecError",
)
_STORES = ("AppendResult", "MailboxStore", "MemoryStore", "RedisStore", "SQLiteStore", "StoredEvent", "open_store")
_PROTOCOL = ("SERVICE_NAME", "check_relay_url", "connect_request", "derive_user_id", "is_user_id")

# public name -> the submodule that defines it
_WHERE: dict[str, str] = {
    "create_app": "._app",
    "RelayConfig": "._config",
    "EmbeddedRelay": "._embedded",
    "openapi_document": "._openapi",
    **dict.fromkeys(_ERRORS, "._errors"),
    **dict.fromkeys(_STORES, "._stores"),
    **dict.fromkeys(_PROTOCOL, ".protocol"),
}


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(where, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
