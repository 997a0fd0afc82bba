"""uvicorn tuned for the relay: parked polls are released before uvicorn waits for open
connections (otherwise shutdown would take up to a poll timeout), and signals are handled
only when the CLI asks, never in an embedding process such as a Jupyter kernel."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette

from ._config import RelayConfig
from ._connection import guarded_protocol

__all__ = ["RelayServer", "build_server"]


class RelayServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, handle_signals: bool):
        super().__init__(config)
        self._handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Unlike uvicorn's, never re-raise the signal afterwards: the CLI returns an exit code.
        if not self._handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: Any = None) -> None:
        app = self.config.app
        if isinstance(app, Starlette):
            app.state.relay.release_parked()
        await super().shutdown(sockets=sockets)


def build_server(
    app: Starlette,
    *,
    host: str,
    port: int,
    embedded: bool,
    log_level: str | None = None,
) -> RelayServer:
    """An embedded server leaves logging alone and logs no access lines; the CLI uses
    uvicorn's standard logging (its access line holds the request line, never headers).

    Forwarded headers are never read here: uvicorn would trust them from any loopback peer,
    which behind a local TLS proxy is every client. The app reads them only from the
    proxies named in ``RelayConfig.trusted_proxies``."""
    limits: RelayConfig = app.state.relay.config
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "on",
        # httptools (a C parser: about a third of the relay's CPU went to h11), with header
        # size and time limits and a connection cap.
        "http": guarded_protocol(limits),
        "ws": "none",
        "proxy_headers": False,
        "timeout_keep_alive": limits.idle_timeout,
        "timeout_graceful_shutdown": 5,
        "server_header": False,
    }
    if embedded:
        options.update(log_config=None, access_log=False)
    else:
        options.update(log_level=log_level or "info", access_log=True)
    return RelayServer(uvicorn.Config(app, **options), handle_signals=not embedded)
