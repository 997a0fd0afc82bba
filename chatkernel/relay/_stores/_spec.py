"""Turn a ``--store`` value into a store, so the CLI and the embedded relay parse it alike."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import StoreSpecError
from ._base import MailboxStore
from ._memory import MemoryStore
from ._redis import RedisStore
from ._sqlite import SQLiteStore

__all__ = ["open_store"]


def open_store(spec: str) -> MailboxStore:
    """``memory``, ``sqlite:PATH`` or ``redis://host:port/db[?prefix=P]`` -> an unopened store.

    Raises :class:`StoreSpecError` for anything else; nothing is connected or created yet.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise StoreSpecError(str(spec), "expected memory, sqlite:PATH or redis://HOST:PORT/DB")
    spec = spec.strip()
    if spec == "memory":
        return MemoryStore()
    if spec.startswith("sqlite:"):
        path = spec.removeprefix("sqlite:")
        if path.startswith("//"):
            path = path[2:]  # sqlite:///abs/path and sqlite://rel/path, as in SQLAlchemy
        if not path or path == ":memory:":
            raise StoreSpecError(spec, "sqlite needs a file path, e.g. sqlite:relay.db")
        return SQLiteStore(path)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        parts = urlsplit(spec)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefixes = [v for k, v in query if k == "prefix"]
        rest = [(k, v) for k, v in query if k != "prefix"]
        if parts.scheme != "unix" and not parts.hostname:
            raise StoreSpecError(spec, "redis URL needs a host, e.g. redis://127.0.0.1:6379/0")
        try:
            parts.port  # noqa: B018 (validates the port)
        except ValueError as exc:
            raise StoreSpecError(spec, str(exc)) from None
        url = urlunsplit(parts._replace(query=urlencode(rest)))
        if prefixes:
            return RedisStore(url, prefix=prefixes[-1])
        return RedisStore(url)
    raise StoreSpecError(spec, "expected memory, sqlite:PATH or redis://HOST:PORT/DB")
