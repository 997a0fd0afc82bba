"""The relay as a Starlette ASGI app: HTTP in, :class:`RelayService` calls, JSON out.

Every refusal is JSON ``{"error", "detail", ...}``; nothing a client sends can reach a
traceback in a response body. Limits run cheapest first: address rate, declared body size,
token, user rate, then the body is read while counting bytes.
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
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive

from .._version import __version__
from ._config import RelayConfig
from ._errors import (
    HTTP_ERROR,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    BodyTooLargeError,
    RequestError,
    StoreError,
)
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
    """Poll answers are assembled from the stored JSON text, never re-parsed."""
    items = (
        f'{{"id":{json.dumps(e.id)},"from":{json.dumps(e.sender)},"ts":{int(e.ts)},"payload":{e.payload}}}'
        for e in events
    )
    return ("[" + ",".join(items) + "]").encode("utf-8")


async def _read_body(request: Request, limit: int) -> bytes:
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


def _endpoint(handler: Handler, *, auth: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        service: RelayService = request.app.state.relay
        try:
            service.check_address(request.client.host if request.client else "unknown")
            limit = service.config.max_body_bytes
            declared = _declared_length(request)
            if declared is not None and declared > limit:
                raise BodyTooLargeError(limit)
            session = None
            if auth:
                session = await service.authenticate(request.headers.get("authorization"))
                service.check_user(session.user)
            body = parse_body(await _read_body(request, limit))
            return await handler(service, request, session, body)
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
            Route("/health", _health, methods=["GET"]),
            Route("/openapi.json", _openapi, methods=["GET"]),
            Route("/connect", _endpoint(_connect, auth=False), methods=["POST"]),
            Route("/poll", _endpoint(_poll, auth=True), methods=["POST"]),
            Route("/send", _endpoint(_send, auth=True), methods=["POST"]),
            Route("/disconnect", _endpoint(_disconnect, auth=True), methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.relay = service
    app.state.store = store_obj
    return app
