"""Several relay processes on one listening socket: ``chatkernel relay --workers N``.

The parent binds the socket once (:func:`listen`), then :class:`Supervisor` starts N fresh
interpreters that inherit it and each run the relay on it; the kernel spreads connections over
whichever worker accepts first. The parent serves nothing itself: it restarts a worker that
dies, gives up (exit 1) when one keeps dying before it serves, and on SIGINT/SIGTERM stops
every worker with SIGTERM (each answers its parked polls, as one process does) and returns 0.

Why not ``uvicorn.supervisors.Multiprocess``: its workers build plain ``uvicorn.Server``
objects (the relay's subclass releases parked polls before it waits for connections, which
would otherwise hold shutdown for a poll timeout), it restarts a worker that crashes after
starting without any bound or back-off, it stops at the first worker that fails to start and
reports no exit code, and its workers share the terminal's process group, so a Ctrl-C while a
worker is still importing prints that worker's traceback. Here each worker is started in a
session of its own (only the parent hears the terminal), receives SIGTERM if the parent dies
(Linux ``PR_SET_PDEATHSIG``), and reports "serving" and its own exit through a pipe, so the
parent waits on file descriptors, never polls.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = ["Supervisor", "WorkerTarget", "listen"]

log = logging.getLogger("chatkernel.relay")

#: Runs in each worker: serve on the socket, call ``ready()`` once serving, return an exit code.
#: Must be picklable (a module-level function, or a ``functools.partial`` of one).
WorkerTarget = Callable[[socket.socket, Callable[[], None]], int]

MAX_START_FAILURES = 5  # a worker that dies this many times in a row before serving: give up
STABLE_AFTER = 10.0  # seconds a worker must have served for its next death to restart it at once
BACKOFF = (0.2, 5.0)  # first and longest pause before restarting a worker that died quickly
STOP_GRACE = 20.0  # seconds workers get to stop after SIGTERM (uvicorn's own grace is 5 s)
START_TIMEOUT = 60.0  # a worker not serving by then is killed (and counts as failing to start)
_PR_SET_PDEATHSIG = 1
_BOOT = "from chatkernel.relay._workers import _child; _child()"


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The listening socket, bound once by the parent; ``OSError`` if the port is taken."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _name, address = infos[0]
    # proto must be IPPROTO_TCP, or asyncio skips TCP_NODELAY on the accepted sockets.
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class _Launch:
    """What the parent hands a new worker on its stdin."""

    target: WorkerTarget
    index: int
    parent: int
    sock_fd: int
    ready_fd: int


@dataclass
class _Slot:
    """One of the N workers, across its restarts."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    pipe: int = -1  # read end: b"R" once serving, EOF when the worker exits
    started_at: float = 0.0
    serving: bool = False
    start_failures: int = 0  # deaths in a row before serving
    quick_deaths: int = 0  # deaths in a row within STABLE_AFTER of starting
    restart_at: float | None = None


class Supervisor:
    """Run ``count`` workers on ``sock`` until a signal; :meth:`run` returns the exit code."""

    def __init__(self, sock: socket.socket, count: int, target: WorkerTarget):
        self.sock = sock
        self.target = target
        self.slots = [_Slot(i) for i in range(count)]
        self._signals: list[int] = []
        #: Why :meth:`run` returned 1, in one line for the user (``None`` after a clean stop).
        self.failure: str | None = None
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.slots if s.proc is not None and s.proc.returncode is None]

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        previous_wakeup = signal.set_wakeup_fd(self._wake_w)
        try:
            try:
                for slot in self.slots:
                    self._start(slot)
                code = self._serve()
            except BaseException:
                self._stop_all(1)  # no worker outlives a failure here
                raise
            return self._stop_all(code)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for slot in self.slots:
                self._close_pipe(slot)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)

    # Starting and restarting -------------------------------------------------------------
    def _start(self, slot: _Slot) -> None:
        read_end, write_end = os.pipe()
        launch = _Launch(self.target, slot.index, os.getpid(), self.sock.fileno(), write_end)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, pass_fds=(self.sock.fileno(), write_end),
                start_new_session=True, env=_child_env(),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        assert proc.stdin is not None
        try:
            proc.stdin.write(pickle.dumps(launch))
            proc.stdin.close()
        except OSError:
            pass  # it died at once: its pipe's EOF reports the exit
        slot.proc, slot.pipe, slot.started_at = proc, read_end, time.monotonic()
        slot.serving, slot.restart_at = False, None

    def _serve(self) -> int:
        """Watch the workers until a signal (0) or until one keeps failing to start (1)."""
        while not self._signals:
            now = time.monotonic()
            due = [s.restart_at for s in self.slots if s.restart_at is not None]
            due += [s.started_at + START_TIMEOUT for s in self.slots if s.pipe >= 0 and not s.serving]
            timeout = max(0.0, min(due) - now) if due else None
            for fd in self._readable(timeout):
                slot = next(s for s in self.slots if s.pipe == fd)
                if os.read(fd, 64):
                    slot.serving, slot.start_failures = True, 0
                    log.info("worker %d (pid %d) serving", slot.index, slot.proc.pid if slot.proc else 0)
                elif not self._exited(slot):
                    return 1
            now = time.monotonic()
            for slot in self.slots:
                if slot.restart_at is not None and slot.restart_at <= now and not self._signals:
                    self._start(slot)
                elif slot.pipe >= 0 and not slot.serving and now - slot.started_at >= START_TIMEOUT:
                    log.warning("worker %d is not serving after %.0f s: killing it", slot.index, START_TIMEOUT)
                    if slot.proc is not None:
                        with contextlib.suppress(ProcessLookupError):
                            slot.proc.kill()  # its pipe's EOF then reports the exit
        return 0

    def _exited(self, slot: _Slot) -> bool:
        """Reap a worker that exited and plan its restart; ``False``: give up."""
        code = self._reap(slot)
        lived = time.monotonic() - slot.started_at
        if self._signals:
            return True
        if not slot.serving:
            slot.start_failures += 1
            if slot.start_failures >= MAX_START_FAILURES:
                self.failure = (f"worker {slot.index} exited ({_describe(code)}) before serving, "
                                f"{slot.start_failures} times in a row: giving up")
                return False
        slot.quick_deaths = 0 if slot.serving and lived >= STABLE_AFTER else slot.quick_deaths + 1
        delay = 0.0 if not slot.quick_deaths else min(BACKOFF[1], BACKOFF[0] * 2 ** (slot.quick_deaths - 1))
        log.warning("worker %d exited (%s) after %.1f s; restarting it in %.1f s",
                    slot.index, _describe(code), lived, delay)
        slot.restart_at = time.monotonic() + delay
        return True

    # Stopping ----------------------------------------------------------------------------
    def _stop_all(self, code: int) -> int:
        """SIGTERM every worker and wait; a second signal forwards SIGINT (uvicorn then stops
        at once), and workers still running after STOP_GRACE are killed."""
        self.sock.close()  # the workers hold their own copies until they stop
        log.info("stopping %d worker(s)", len(self.pids))
        handled = len(self._signals)
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while any(s.pipe >= 0 for s in self.slots) and time.monotonic() < deadline:
            for fd in self._readable(max(0.0, deadline - time.monotonic())):
                slot = next(s for s in self.slots if s.pipe == fd)
                if not os.read(fd, 64):
                    self._reap(slot)
            if len(self._signals) > handled:
                handled = len(self._signals)
                self._signal_all(signal.SIGINT)
        stuck = [s for s in self.slots if s.pipe >= 0]
        for slot in stuck:
            log.error("worker %d did not stop within %.0f s: killing it", slot.index, STOP_GRACE)
            if slot.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.kill()
            self._reap(slot)
        if stuck and self.failure is None:
            self.failure = f"{len(stuck)} worker(s) did not stop within {STOP_GRACE:.0f} s and were killed"
        return 1 if stuck else code

    def _signal_all(self, sig: int) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(sig)

    # Plumbing ----------------------------------------------------------------------------
    def _readable(self, timeout: float | None) -> list[int]:
        pipes = [s.pipe for s in self.slots if s.pipe >= 0]
        ready, _, _ = select.select([*pipes, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)
        return [fd for fd in ready if fd != self._wake_r]

    def _reap(self, slot: _Slot) -> int | None:
        self._close_pipe(slot)
        if slot.proc is None:
            return None
        try:
            return slot.proc.wait(5)  # its pipe closed: it has exited or is about to
        except subprocess.TimeoutExpired:
            slot.proc.kill()
            return slot.proc.wait()

    @staticmethod
    def _close_pipe(slot: _Slot) -> None:
        if slot.pipe >= 0:
            os.close(slot.pipe)
            slot.pipe = -1


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def _child_env() -> dict[str, str]:
    """The parent's environment, with this copy of chatkernel first on the path."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    paths = env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []
    if not paths or paths[0] != root:
        env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env


# In the worker ------------------------------------------------------------------------------
def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker when the parent dies, even by SIGKILL, so no worker is orphaned."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request took effect
        sys.exit(1)


def _child() -> None:
    try:
        launch: _Launch = pickle.load(sys.stdin.buffer)
    except Exception as exc:  # noqa: BLE001 - a target this interpreter cannot import
        print(f"chatkernel relay: error: a worker could not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    _die_with_parent(launch.parent)
    sock = socket.socket(fileno=launch.sock_fd)  # family, type and proto are read from the fd

    def ready() -> None:
        with contextlib.suppress(OSError):  # no parent any more: its death signal is on its way
            os.write(launch.ready_fd, b"R")  # the fd stays open: its EOF tells the parent we exited

    try:
        code = launch.target(sock, ready)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback at debug level
        log.debug("worker %d failed", launch.index, exc_info=True)
        print(f"chatkernel relay: error: worker {launch.index} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code)
