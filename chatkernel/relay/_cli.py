"""``chatkernel relay`` / ``python -m chatkernel.relay``: argument parsing and the server run.

The kernel's CLI calls :func:`configure` on its ``relay`` sub-parser and :func:`run` with
the parsed arguments. Errors a user can fix print one line and return 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .._logging import configure_logging
from .._loopback import is_loopback_host
from ._app import create_app
from ._config import RelayConfig
from ._errors import ConfigError, StoreError
from ._server import build_server
from ._stores import MailboxStore, open_store

__all__ = ["configure", "run"]

log = logging.getLogger("chatkernel.relay")

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
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the relay's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    parser.add_argument(
        "--store",
        default="memory",
        help="memory (default), sqlite:PATH (durable, one node) or redis://HOST:PORT/DB[?prefix=P] (shared)",
    )
    parser.add_argument("--log-level", default="info", type=str.lower, choices=_LOG_LEVELS)
    limits = parser.add_argument_group("limits")
    defaults = RelayConfig()
    for option, (field, kind, text) in _LIMITS.items():
        default = getattr(defaults, field)
        shown = f"{default:.0f}" if float(default).is_integer() else f"{default}"
        limits.add_argument(option, dest=field, type=kind, default=None, metavar="N", help=f"{text} (default: {shown})")


def _config(args: argparse.Namespace) -> RelayConfig:
    fields = [field for field, _kind, _text in _LIMITS.values()]
    changes = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    if "poll_max_timeout" in changes:
        changes.setdefault("poll_default_timeout", min(RelayConfig().poll_default_timeout, changes["poll_max_timeout"]))
    return RelayConfig(**changes)


def _fail(message: str, code: int) -> int:
    print(f"chatkernel relay: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a clean stop, 2 for bad options, 1 if the store
    cannot be opened."""
    try:
        store = open_store(args.store)
        config = _config(args)
    except ConfigError as exc:
        return _fail(exc.detail, 2)
    if not 0 <= args.port <= 65535:
        return _fail(f"invalid port {args.port}", 2)
    configure_logging(args.log_level)
    if not is_loopback_host(args.host):
        log.warning("serving plain HTTP on %s: put a TLS-terminating proxy in front", args.host)
    try:
        return asyncio.run(_serve(store, config, args))
    except KeyboardInterrupt:
        return 130


async def _serve(store: MailboxStore, config: RelayConfig, args: argparse.Namespace) -> int:
    try:
        await store.open()
    except StoreError as exc:
        return _fail(exc.detail, 1)
    try:
        app = create_app(config, store=store)
        server = build_server(app, host=args.host, port=args.port, embedded=False, log_level=args.log_level)
        log.info("relay store: %r", store)
        await server.serve()
        return 0 if server.started else 1
    finally:
        await store.close()
