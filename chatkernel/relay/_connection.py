"""The connection layer: what a client may hold before its request reaches the app.

uvicorn's httptools protocol parses headers of any size (a 32 MB header block was answered
200) and never times out a request whose headers are still arriving (2,000 half-open requests
were all held after 21 s). This subclass adds the three guards a front-line server needs,
answering with the relay's JSON error shape and closing the connection:

* ``header_max_bytes``: the request line and headers together; 431 ``headers_too_large``;
* ``header_timeout``: from the connection's first byte of a request (or from the connection
  itself, for one that never sends) to the end of its headers; 408 ``request_timeout``, or a
  plain close if nothing was sent;
* ``body_timeout``: from the end of the headers to the end of the body; 408
  ``request_timeout``, answered for the app, which then sees a disconnect;
* ``max_connections``: connections on this node; a request on one beyond it gets 503
  ``too_many_connections``.

A timer runs only while something is awaited: a request that arrives in one packet (nearly
all) arms none for its body. Idle keep-alive connections are closed by uvicorn after
``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ._config import RelayConfig
from ._errors import HEADERS_TOO_LARGE, REQUEST_TIMEOUT, TOO_MANY_CONNECTIONS

__all__ = ["guarded_protocol"]

_LINGER = 2.0  # seconds a refused connection is drained before it is closed


class _GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[RelayConfig]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True
        self._raw_header_bytes = 0  # bytes received since this request began, while in its headers
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._over_capacity = False

    # Connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._over_capacity = len(self.connections) > self.limits.max_connections
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        self._disarm_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._raw_header_bytes += len(data)
        super().data_received(data)
        if self._refused:
            return
        if self._in_headers:
            # Still incomplete after feeding: every byte since the request began was header.
            if self._raw_header_bytes > self.limits.header_max_bytes:
                self._refuse_headers()
            elif self._header_timer is None:  # armed only when headers span packets
                self._arm_header_timer()
        elif self._body_timer is None:  # headers done, body still coming
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timeout)

    # Parser callbacks ------------------------------------------------------------------
    def _header_size(self) -> int:
        """The request line and headers as parsed (uvicorn keeps them for the scope)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._disarm_header_timer()
        if self._refused:
            return
        # The bytes received bound the headers' size; count exactly only when they could exceed it.
        if self._raw_header_bytes > self.limits.header_max_bytes and self._header_size() > self.limits.header_max_bytes:
            self._refuse_headers()
            return
        self._raw_header_bytes = 0
        if self._over_capacity:
            self._refuse(503, TOO_MANY_CONNECTIONS, "this relay node holds its maximum of connections; retry later",
                         {"limit": self.limits.max_connections}, retry_after=1)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        if self._body_timer is not None:
            self._disarm_body_timer()
        super().on_message_complete()
        self._in_headers = True

    # Refusals --------------------------------------------------------------------------
    def _refuse_headers(self) -> None:
        limit = self.limits.header_max_bytes
        self._refuse(431, HEADERS_TOO_LARGE, f"the request line and headers exceed {limit} bytes", {"limit": limit})

    def _refuse(self, status: int, code: str, detail: str, fields: dict[str, Any] | None = None,
                *, retry_after: int | None = None, for_app: bool = False) -> None:
        """Answer and close. ``for_app``: the app is still waiting for this request's body
        and has not answered; it is told the client went away, so it never answers too."""
        self._refused = True
        self._disarm_header_timer()
        self._disarm_body_timer()
        body = json.dumps({"error": code, "detail": detail, **(fields or {})}).encode("ascii")
        head = [STATUS_LINE[status], b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body), b"connection: close\r\n"]
        if retry_after is not None:
            head.append(b"retry-after: %d\r\n" % retry_after)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if for_app:
            cycle.disconnected = True  # what uvicorn sets when the client goes: send() is a no-op
            cycle.message_event.set()
        elif cycle is not None and not cycle.response_complete:
            # Bytes after a request that is still being answered (a pipelined request, or
            # garbage after a body): an answer now would corrupt the one in progress.
            self.transport.close()
            return
        self.transport.write(b"".join(head) + b"\r\n" + body)
        # Lingering close (as nginx does): closing with unread request bytes would send a
        # reset that can destroy the answer before the client reads it. Stop writing, drop
        # whatever still arrives, and close when the client does or after _LINGER seconds.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER, self.transport.close)
        else:  # pragma: no cover (TCP transports can always half-close)
            self.transport.close()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self._refused or self._in_headers or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:  # the app answered without the body
            self._refused = True
            self.transport.close()
            return
        self._refuse(408, REQUEST_TIMEOUT, f"the request body did not arrive within {self.limits.body_timeout:g} s",
                     for_app=True)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._refused or not self._in_headers or self.transport.is_closing():
            return
        if self._raw_header_bytes == 0:  # nothing sent: nobody to answer
            self._refused = True
            self.transport.close()
            return
        self._refuse(408, REQUEST_TIMEOUT, f"the request headers did not arrive within {self.limits.header_timeout:g} s")


def guarded_protocol(limits: RelayConfig) -> type[HttpToolsProtocol]:
    """An httptools protocol class for uvicorn's ``http`` option, bound to ``limits``."""
    return type("RelayHttpProtocol", (_GuardedHttpToolsProtocol,), {"limits": limits})
