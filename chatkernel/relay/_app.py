"""The relay as a Starlette ASGI app: HTTP in, :class:`RelayService` calls, JSON out.

Every refusal is JSON ``{"error", "detail", ...}``; nothing a client sends can reach a
traceback in a response body. Each request is charged to one rate limit before anything
else: an authenticated endpoint's to the token's user, or to the client address when the token
is missing, malformed or unknown (``/connect`` always to the address). Then the declared body
size is checked, and only then is the body read, counting bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from .._version import __version__
from ._config import RelayConfig
from ._errors import (
    HTTP_ERROR,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    STORE_UNAVAILABLE,
    BodyTooLargeError,
    RequestError,
    StoreError,
)
from ._ijson import sanitize_stored
from ._openapi import openapi_document
from ._service import RelayService, Session
from ._stores import MailboxStore, StoredEvent, open_store
from ._validation import parse_body
from .protocol import SERVICE_NAME

__all__ = ["create_app", "events_json"]

log = logging.getLogger("chatkernel.relay")

Handler = Callable[[RelayService, Request, Session | None, dict[str, Any]], Awaitable[Response]]


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **fields: Any) -> Response:
    return JSONResponse({"error": code, "detail": detail, **fields}, status_code=status, headers=headers)


def _render(exc: RequestError | StoreError) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


def _internal_error() -> Response:
    return _error(500, INTERNAL_ERROR, "the relay failed to handle this request")


def events_json(events: list[StoredEvent]) -> bytes:
    """Poll answers are assembled from the stored JSON text, never re-parsed; a lone surrogate
    left by an older relay is repaired, so the answer is always I-JSON."""
    items = (
        f'{{"id":{json.dumps(e.id)},"from":{json.dumps(e.sender)},"ts":{int(e.ts)},'
        f'"payload":{sanitize_stored(e.payload)}}}'
        for e in events
    )
    return ("[" + ",".join(items) + "]").encode("utf-8")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, counted while it arrives; its deadline is the connection layer's."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:  # stop reading: the rest of a huge body is never pulled in
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _endpoint(handler: Handler, *, auth: bool, body: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """``body=False`` for an authenticated GET: no body is read; the handler reads the path."""

    async def endpoint(request: Request) -> Response:
        service: RelayService = request.app.state.relay
        try:
            address = request.client.host if request.client else "unknown"
            session = None
            if auth:  # charged once: to the token's user, or to the address if it has none
                session = await service.admit(address, request.headers.get("authorization"))
            else:
                await service.check_address(address)
            if not body:
                return await handler(service, request, session, {})
            limit = service.config.max_body_bytes
            declared = _declared_length(request)
            if declared is not None and declared > limit:
                raise BodyTooLargeError(limit)
            parsed = parse_body(await _read_body(request, limit))
            return await handler(service, request, session, parsed)
        except (RequestError, StoreError) as exc:
            if isinstance(exc, StoreError):
                log.error("store failure on %s: %s", request.url.path, exc.detail)
            return _render(exc)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        except Exception:
            log.exception("unexpected failure on %s", request.url.path)
            return _internal_error()

    endpoint.__name__ = handler.__name__.lstrip("_")
    return endpoint


async def _connect(service: RelayService, request: Request, session: Session | None, body: dict[str, Any]) -> Response:
    return JSONResponse(await service.connect(body))


async def _send(service: RelayService, request: Request, session: Session | None, body: dict[str, Any]) -> Response:
    assert session is not None
    return JSONResponse(await service.send(session, body))


async def _disconnect(
    service: RelayService, request: Request, session: Session | None, body: dict[str, Any]
) -> Response:
    assert session is not None
    return JSONResponse(await service.disconnect(session, body))


async def _upload_keys(
    service: RelayService, request: Request, session: Session | None, body: dict[str, Any]
) -> Response:
    assert session is not None
    return JSONResponse(await service.upload_prekeys(session, body))


async def _fetch_keys(
    service: RelayService, request: Request, session: Session | None, body: dict[str, Any]
) -> Response:
    assert session is not None
    query = [name for name, _ in request.query_params.multi_items()]
    bundle = await service.fetch_prekeys(session, request.path_params["userId"], query)
    # Each answer hands out a key once: no cache may serve it to anyone else.
    return JSONResponse(bundle, headers={"Cache-Control": "no-store"})


def _get_only(route: Route) -> Route:
    """Starlette answers HEAD on every GET route by running it; a HEAD that consumed a
    one-time prekey would throw it away unseen, so this route answers HEAD with 405."""
    assert route.methods is not None
    route.methods.discard("HEAD")
    return route


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _poll(service: RelayService, request: Request, session: Session | None, body: dict[str, Any]) -> Response:
    assert session is not None
    poll = asyncio.ensure_future(service.poll(session, body))
    gone = asyncio.ensure_future(_client_gone(request.receive))
    try:
        # A client that hangs up frees its parked slot at once instead of at the timeout.
        await asyncio.wait((poll, gone), return_when=asyncio.FIRST_COMPLETED)
        if not poll.done():
            return Response(status_code=400)
        return Response(events_json(poll.result()), media_type="application/json")
    finally:
        for task in (poll, gone):
            task.cancel()
        await asyncio.gather(poll, gone, return_exceptions=True)


async def _health(request: Request) -> Response:
    return JSONResponse({"service": SERVICE_NAME, "version": __version__})


async def _ready(request: Request) -> Response:
    """Readiness, apart from liveness: a node whose store is unreachable should get no
    traffic, though the process itself is fine."""
    service: RelayService = request.app.state.relay
    try:
        await service.store.ping()
    except StoreError as exc:
        log.warning("not ready: %s", exc.detail)
        # The reason is the failure's kind only: the backend's own message may name hosts.
        reason = type(exc.__cause__).__name__ if exc.__cause__ is not None else "closed"
        return _error(503, STORE_UNAVAILABLE, f"the {service.store.backend} store does not answer ({reason})",
                      {"Retry-After": "1"}, ready=False, store=service.store.backend, reason=reason)
    return JSONResponse({"ready": True, "store": service.store.backend})


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}.get(exc.status_code, HTTP_ERROR)
    return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return _internal_error()


async def _purge_loop(service: RelayService) -> None:
    while True:
        await asyncio.sleep(service.config.purge_interval)
        try:
            removed = await service.purge()
        except Exception:
            log.exception("mailbox purge failed")
        else:
            if removed:
                log.info("purged %d messages older than %.0f s", removed, service.config.mailbox_max_age)


def create_app(config: RelayConfig | None = None, *, store: MailboxStore | str = "memory") -> Starlette:
    """The relay app. A store given as a spec string is built, opened and closed by the app's
    lifespan; a store instance is opened if needed and left open for its owner to close."""
    config = config or RelayConfig()
    owns_store = isinstance(store, str)
    store_obj = open_store(store) if isinstance(store, str) else store
    service = RelayService(store_obj, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store_obj.open()
        purger = asyncio.get_running_loop().create_task(_purge_loop(service), name="relay-purge")
        try:
            yield
        finally:
            service.release_parked()
            purger.cancel()
            await asyncio.gather(purger, return_exceptions=True)
            if owns_store:
                await store_obj.close()

    app = Starlette(
        routes=[
            # The router tries routes in order: the busiest first.
            Route("/send", _endpoint(_send, auth=True), methods=["POST"]),
            Route("/poll", _endpoint(_poll, auth=True), methods=["POST"]),
            Route("/connect", _endpoint(_connect, auth=False), methods=["POST"]),
            Route("/disconnect", _endpoint(_disconnect, auth=True), methods=["POST"]),
            Route("/keys", _endpoint(_upload_keys, auth=True), methods=["POST"]),
            _get_only(Route("/keys/{userId}", _endpoint(_fetch_keys, auth=True, body=False), methods=["GET"])),
            Route("/health", _health, methods=["GET"]),
            Route("/ready", _ready, methods=["GET"]),
            Route("/openapi.json", _openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
        # Client addresses (and so the per-address limit) come from X-Forwarded-For only when
        # the peer is a proxy the operator named; by default the headers are ignored.
        middleware=[Middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.trusted_proxies))]
        if config.trusted_proxies
        else [],
    )
    app.state.relay = service
    app.state.store = store_obj
    return app
