"""A relay a notebook starts in one call, on a free loopback port, and stops cleanly.

It runs uvicorn as a task on the caller's event loop (a Jupyter kernel's loop works: no
threads), or, for synchronous code, on a private loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from ._app import create_app
from ._config import RelayConfig
from ._errors import RelayError
from ._server import RelayServer, build_server
from ._stores import MailboxStore, open_store

__all__ = ["EmbeddedRelay"]

_HOST = "127.0.0.1"
_START_TIMEOUT = 30.0


class EmbeddedRelay:
    """``relay = await EmbeddedRelay.start()`` ... ``await relay.stop()``; or
    ``async with EmbeddedRelay.start() as relay``; or ``with EmbeddedRelay.start_background()``."""

    def __init__(self, server: RelayServer, task: asyncio.Task[None], store: MailboxStore, owns_store: bool, port: int):
        self._server = server
        self._task = task
        self._owns_store = owns_store
        self._loop = task.get_loop()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.store = store
        self.host = _HOST
        self.port = port
        self.url = f"http://{_HOST}:{port}"

    @property
    def app(self) -> Any:
        return self._server.config.app

    @property
    def service(self) -> Any:
        """The relay's service object (parked-poll count and the like, for the explorer)."""
        return self.app.state.relay

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<EmbeddedRelay {self.url} store={self.store.backend} {state}>"

    @classmethod
    def start(
        cls, store: MailboxStore | str = "memory", *, config: RelayConfig | None = None, port: int = 0
    ) -> _Starting:
        """Serve on 127.0.0.1 (``port=0``: a free one); await it, or use ``async with``."""
        return _Starting(lambda: cls._start(store, config, port))

    @classmethod
    async def _start(cls, store: MailboxStore | str, config: RelayConfig | None, port: int) -> EmbeddedRelay:
        store_obj = open_store(store) if isinstance(store, str) else store
        owns_store = isinstance(store, str)
        await store_obj.open()  # fail here, with the store's error, not inside uvicorn
        try:
            # proto must be IPPROTO_TCP, or asyncio skips TCP_NODELAY on accepted sockets and
            # every response waits ~40 ms for a delayed ACK.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                # Restarting on the same port must work while old connections sit in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((_HOST, port))
                sock.listen(128)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            bound_port = sock.getsockname()[1]
            server = build_server(create_app(config, store=store_obj), host=_HOST, port=bound_port, embedded=True)
            task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="chatkernel-relay")
            async with asyncio.timeout(_START_TIMEOUT):
                while not server.started and not task.done():
                    await asyncio.sleep(0.01)
            if task.done():
                sock.close()
                exc = task.exception() if not task.cancelled() else None
                raise RelayError(f"the embedded relay failed to start: {exc!r}")
        except BaseException:
            if owns_store:
                await store_obj.close()
            raise
        return cls(server, task, store_obj, owns_store, bound_port)

    async def stop(self) -> None:
        """Answer parked polls, close connections and the store; idempotent."""
        if self._loop is not asyncio.get_running_loop():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.stop(), self._loop))
            return
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        try:
            await self._task
        finally:
            if self._owns_store:
                await self.store.close()

    async def __aenter__(self) -> EmbeddedRelay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # Synchronous use --------------------------------------------------------------------
    @classmethod
    def start_background(
        cls, store: MailboxStore | str = "memory", *, config: RelayConfig | None = None, port: int = 0
    ) -> EmbeddedRelay:
        """Serve from a daemon thread with its own loop, for code that cannot ``await``.
        A store instance must not be bound to another loop (build it from a spec string)."""
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[EmbeddedRelay] = concurrent.futures.Future()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                relay = loop.run_until_complete(cls._start(store, config, port))
            except BaseException as exc:
                ready.set_exception(exc)
            else:
                ready.set_result(relay)
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="chatkernel-relay", daemon=True)
        thread.start()
        relay = ready.result(timeout=_START_TIMEOUT)
        relay._thread = thread
        return relay

    def close(self) -> None:
        """Stop a relay started with :meth:`start_background` and join its thread."""
        if self._thread is None:
            raise RuntimeError("this relay runs on your event loop: use 'await relay.stop()'")
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(timeout=_START_TIMEOUT)
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_START_TIMEOUT)

    def __enter__(self) -> EmbeddedRelay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Starting:
    """What :meth:`EmbeddedRelay.start` returns: awaitable, or an async context manager."""

    __slots__ = ("_factory", "_relay")

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, EmbeddedRelay]]):
        self._factory = factory  # the coroutine is made only when used, so none leaks unawaited
        self._relay: EmbeddedRelay | None = None

    def __await__(self) -> Generator[Any, None, EmbeddedRelay]:
        return self._factory().__await__()

    async def __aenter__(self) -> EmbeddedRelay:
        self._relay = await self._factory()
        return self._relay

    async def __aexit__(self, *exc_info: object) -> None:
        if self._relay is not None:
            await self._relay.stop()
