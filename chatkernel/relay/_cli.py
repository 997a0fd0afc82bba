"""``chatkernel relay`` / ``python -m chatkernel.relay``: argument parsing and the server run.

The kernel's CLI calls :func:`configure` on its ``relay`` sub-parser and :func:`run` with
the parsed arguments. Errors a user can fix print one line and return 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import socket
import sys
from collections.abc import Callable

from .._logging import configure_logging
from .._loopback import is_loopback_host
from ._app import create_app
from ._config import RelayConfig
from ._errors import ConfigError, StoreError
from ._server import build_server
from ._stores import MailboxStore, SQLiteStore, open_store
from ._workers import Supervisor, listen

__all__ = ["configure", "run"]

log = logging.getLogger("chatkernel.relay")

_MAX_WORKERS = 64
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")  # no "trace": it would dump ASGI messages

# option -> (RelayConfig field, type, help)
_LIMITS: dict[str, tuple[str, type, str]] = {
    "--max-body-bytes": ("max_body_bytes", int, "largest request body (413 above)"),
    "--poll-max-events": ("poll_max_events", int, "events per poll answer"),
    "--poll-max-bytes": ("poll_max_bytes", int, "payload bytes per poll answer"),
    "--poll-max-timeout": ("poll_max_timeout", float, "longest a poll parks, seconds"),
    "--max-parked-polls": ("max_parked_polls", int, "parked polls on this node (503 above)"),
    "--mailbox-max-len": ("mailbox_max_len", int, "undelivered messages per mailbox (507 above)"),
    "--mailbox-max-age": ("mailbox_max_age", float, "seconds a message is kept undelivered"),
    "--token-ttl": ("token_ttl", float, "seconds a bearer token lives"),
    "--rate-per-user": ("rate_per_user", float, "sustained requests/s per user"),
    "--burst-per-user": ("burst_per_user", float, "burst per user"),
    "--rate-per-address": ("rate_per_address", float, "sustained requests/s per client address"),
    "--burst-per-address": ("burst_per_address", float, "burst per client address"),
    "--purge-interval": ("purge_interval", float, "seconds between purges of old messages"),
    "--prekey-batch-max": ("prekey_batch_max", int, "one-time prekeys per POST /keys (422 above)"),
    "--prekey-max-per-user": ("prekey_max_per_user", int, "one-time prekeys kept per user (422 above)"),
    "--header-max-bytes": ("header_max_bytes", int, "request line and headers (431 above)"),
    "--header-timeout": ("header_timeout", float, "seconds for a request's headers to arrive (408 after)"),
    "--body-timeout": ("body_timeout", float, "seconds for a request's body to arrive (408 after)"),
    "--idle-timeout": ("idle_timeout", float, "seconds an idle keep-alive connection is kept"),
    "--max-connections": ("max_connections", int, "open connections on this node (503 above)"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the relay's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    parser.add_argument(
        "--store",
        default="memory",
        help="memory (default), sqlite:PATH (durable, one machine) or redis://HOST:PORT/DB[?prefix=P] (shared)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=f"processes serving the port (default: 1, at most {_MAX_WORKERS}); more than one needs "
        "--store sqlite:PATH or redis://...",
    )
    parser.add_argument("--log-level", default="info", type=str.lower, choices=_LOG_LEVELS)
    parser.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        default=None,
        metavar="ADDR",
        help="believe X-Forwarded-For/-Proto only from this proxy address or network (repeatable); "
        "by default they are ignored, so clients cannot pick their own address",
    )
    limits = parser.add_argument_group("limits")
    defaults = RelayConfig()
    for option, (field, kind, text) in _LIMITS.items():
        default = getattr(defaults, field)
        shown = f"{default:.0f}" if float(default).is_integer() else f"{default}"
        limits.add_argument(option, dest=field, type=kind, default=None, metavar="N", help=f"{text} (default: {shown})")


def _config(args: argparse.Namespace) -> RelayConfig:
    fields = [field for field, _kind, _text in _LIMITS.values()]
    changes: dict[str, object] = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    if getattr(args, "trusted_proxies", None):
        changes["trusted_proxies"] = tuple(args.trusted_proxies)
    if "poll_max_timeout" in changes:
        changes.setdefault(
            "poll_default_timeout", min(RelayConfig().poll_default_timeout, float(changes["poll_max_timeout"]))  # type: ignore[arg-type]
        )
    return RelayConfig(**changes)  # type: ignore[arg-type]


def _fail(message: str, code: int) -> int:
    print(f"chatkernel relay: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a clean stop, 2 for bad options, 1 if the store
    cannot be opened (or, with ``--workers N``, the port is taken or workers keep failing)."""
    try:
        store = open_store(args.store)
        config = _config(args)
    except ConfigError as exc:
        return _fail(exc.detail, 2)
    if not 0 <= args.port <= 65535:
        return _fail(f"invalid port {args.port}", 2)
    workers = getattr(args, "workers", 1)
    if not 1 <= workers <= _MAX_WORKERS:
        return _fail(f"--workers must be between 1 and {_MAX_WORKERS}, got {workers}", 2)
    if workers > 1 and sys.platform == "win32":
        return _fail("--workers needs a POSIX system (the workers inherit the listening socket)", 2)
    if workers > 1 and store.backend == "memory":
        return _fail(f"--workers {workers} needs a store the workers share (--store sqlite:PATH or "
                     "redis://HOST:PORT/DB): the memory store lives in one process", 2)
    configure_logging(args.log_level)
    if not is_loopback_host(args.host):
        log.warning("serving plain HTTP on %s: put a TLS-terminating proxy in front", args.host)
    if workers > 1:
        return _supervise(_shared(store), config, args)
    try:
        return asyncio.run(_serve(store, config, args))
    except KeyboardInterrupt:
        return 130


async def _serve(
    store: MailboxStore,
    config: RelayConfig,
    args: argparse.Namespace,
    *,
    sockets: list[socket.socket] | None = None,
    ready: Callable[[], None] | None = None,
) -> int:
    try:
        await store.open()
    except StoreError as exc:
        return _fail(exc.detail, 1)
    try:
        app = create_app(config, store=store)
        server = build_server(app, host=args.host, port=args.port, embedded=False, log_level=args.log_level)
        log.info("relay store: %r", store)
        if ready is None:
            await server.serve(sockets=sockets)
        else:  # a worker: tell the supervisor once it serves
            serving = asyncio.ensure_future(server.serve(sockets=sockets))
            while not server.started and not serving.done():
                await asyncio.wait({serving}, timeout=0.02)
            if server.started:
                ready()
            await serving
        return 0 if server.started else 1
    finally:
        await store.close()


# --workers N --------------------------------------------------------------------------------
def _shared(store: MailboxStore) -> MailboxStore:
    """Several processes use this store: rate limits and wake-ups must reach all of them
    (Redis shares both already)."""
    if isinstance(store, SQLiteStore):
        store.shared_limits = True
        store.shared_wakeups = True
    return store


async def _check_store(store: MailboxStore) -> str | None:
    try:
        await store.open()
    except StoreError as exc:
        return exc.detail
    await store.close()
    return None


def _supervise(store: MailboxStore, config: RelayConfig, args: argparse.Namespace) -> int:
    """Open the store once here (a bad one fails before any worker starts), bind the port
    once, and run the workers; each builds its own store from the spec."""
    problem = asyncio.run(_check_store(store))
    if problem is not None:
        return _fail(problem, 1)
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    picklable = argparse.Namespace(**{k: v for k, v in vars(args).items() if not callable(v)})
    supervisor = Supervisor(sock, args.workers, functools.partial(_worker, picklable, config))
    host = f"[{args.host}]" if ":" in args.host else args.host
    port = sock.getsockname()[1]  # the one bound, for --port 0
    log.info("relay: %d workers on http://%s:%d, store %r", args.workers, host, port, store)
    try:
        code = supervisor.run()
    except OSError as exc:  # e.g. no more processes or file descriptors
        return _fail(f"could not start the workers: {exc}", 1)
    if supervisor.failure is not None:
        return _fail(supervisor.failure, code)
    return code


def _worker(args: argparse.Namespace, config: RelayConfig, sock: socket.socket, ready: Callable[[], None]) -> int:
    """One of the workers, in its own process: its store is built here, never inherited."""
    configure_logging(args.log_level)
    store = _shared(open_store(args.store))
    try:
        return asyncio.run(_serve(store, config, args, sockets=[sock], ready=ready))
    except KeyboardInterrupt:
        return 130
