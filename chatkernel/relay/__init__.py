"""The chatkernel relay: authenticated store-and-forward mailboxes for end-to-end encrypted chat.

``create_app`` builds the ASGI app; ``EmbeddedRelay`` serves it on a free loopback port from
a notebook; ``python -m chatkernel.relay`` (or ``chatkernel relay``) serves it from a shell.
Importing this package starts nothing, opens nothing and configures no logging.
"""

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
    PollCapacityError,
    RateLimitedError,
    RelayError,
    RequestError,
    StoreError,
    StoreSpecError,
)
from ._identity import connect_request, derive_user_id
from ._openapi import openapi_document
from ._stores import AppendResult, MailboxStore, MemoryStore, RedisStore, SQLiteStore, StoredEvent, open_store

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
    "PollCapacityError",
    "RateLimitedError",
    "RedisStore",
    "RelayConfig",
    "RelayError",
    "RequestError",
    "SQLiteStore",
    "StoreError",
    "StoreSpecError",
    "StoredEvent",
    "connect_request",
    "create_app",
    "derive_user_id",
    "open_store",
    "openapi_document",
]
