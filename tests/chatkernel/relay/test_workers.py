"""``chatkernel relay --workers N``: real processes on one loopback port.

Which worker serves a connection is read from the outside (psutil: the worker process that
holds the accepted socket), so the product needs no header or endpoint that names its pid.
"""

from __future__ import annotations

import argparse
import http.client
import json
import operator
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from chatkernel.relay._cli import configure, run
from chatkernel.relay._workers import Supervisor, listen

LIMITS = ("--rate-per-address", "10000", "--burst-per-address", "10000",
          "--rate-per-user", "1000", "--burst-per-user", "1000")
MESSAGES = 40


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


# Clients that know which worker they reached -------------------------------------------
class Conn:
    """One keep-alive HTTP connection and the pid of the worker that accepted it."""

    def __init__(self, port: int, workers: list[int]):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
        self.post("/health", None, method="GET")
        local = self.http.sock.getsockname()[1]
        self.pid = owner(workers, port, local)

    def post(self, path: str, body: Any, token: str | None = None, method: str = "POST") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.http.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def close(self) -> None:
        self.http.close()


def workers_of(parent: int, count: int, timeout: float = 30.0) -> list[int]:
    """The pids of ``count`` live workers under ``parent`` (bounded wait while they start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [c.pid for c in psutil.Process(parent).children() if c.status() != psutil.STATUS_ZOMBIE]
        if len(children) == count:
            return children
        time.sleep(0.05)
    raise AssertionError(f"{parent} did not have {count} workers")


def owner(workers: list[int], port: int, client_port: int) -> int:
    for _attempt in range(100):
        for pid in workers:
            for c in psutil.Process(pid).net_connections(kind="tcp"):
                if c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == client_port:
                    return pid
        time.sleep(0.02)
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def one_on_each(port: int, workers: list[int], timeout: float = 30.0) -> dict[int, Conn]:
    """Open connections until every worker has one (bounded: a worker that is still starting
    accepts nothing yet); the others are closed."""
    found: dict[int, Conn] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = Conn(port, workers)
        if conn.pid in found:
            conn.close()
        else:
            found[conn.pid] = conn
        if len(found) == len(workers):
            return found
    raise AssertionError(f"connections reached only {sorted(found)} of {workers}")


def connect(conn: Conn, identity: Any) -> str:
    status, body = conn.post("/connect", identity.connect_body(int(time.time() * 1000)))
    assert status == 200, body
    return str(body["token"])


def parked_poll(conn: Conn, user: str, token: str, **extra: Any) -> tuple[threading.Thread, dict[str, Any]]:
    answer: dict[str, Any] = {}

    def poll() -> None:
        answer["status"], answer["events"] = conn.post("/poll", {"userId": user, "timeout": 30, **extra}, token)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    time.sleep(0.5)  # give the poll time to park, so the wake-up path is the one exercised
    return thread, answer


def start(relay_process: Any, store: str, *limits: str) -> tuple[Any, list[int]]:
    proc = relay_process("workers", "--workers", "2", "--store", store, "--log-level", "info", *(limits or LIMITS))
    proc.wait_ready()
    return proc, workers_of(proc.proc.pid, 2)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'relay.db'}"
    return str(request.getfixturevalue("redis_url"))


# Refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "needle"), [
    (["--workers", "2"], "the memory store lives in one process"),
    (["--workers", "0", "--store", "sqlite:x.db"], "--workers must be between 1 and 64"),
    (["--workers", "65", "--store", "sqlite:x.db"], "--workers must be between 1 and 64"),
])
def test_refusals_print_one_line_and_return_2(capsys, argv: list[str], needle: str) -> None:
    assert run(parse(*argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_a_taken_port_is_one_line_and_exit_1(capsys, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--workers", "2", "--store", f"sqlite:{tmp_path / 'r.db'}", "--port", str(port),
                "--log-level", "critical"]
        assert run(parse(*argv)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


def test_workers_that_keep_dying_at_start_make_it_give_up(capfd) -> None:
    with listen("127.0.0.1", 0) as sock:
        supervisor = Supervisor(sock, 2, operator.mul)  # mul(sock, ready) raises TypeError at once
        assert supervisor.run() == 1
    assert supervisor.failure is not None and "before serving, 5 times in a row: giving up" in supervisor.failure
    assert supervisor.pids == []
    err = capfd.readouterr().err
    assert "worker 0 failed: TypeError" in err and "Traceback" not in err


# Serving with two workers ----------------------------------------------------------------
def test_two_workers_deliver_everything_once_in_order_and_wake_each_other(
    relay_process: Any, shared_store: str, new_identity: Any
) -> None:
    proc, workers = start(relay_process, shared_store)
    alice, bob = new_identity(), new_identity()
    setup = Conn(proc.port, workers)
    alice_token, bob_token = connect(setup, alice), connect(setup, bob)

    # Each message on a connection of its own: the kernel spreads them over both workers.
    served_by = []
    for i in range(MESSAGES):
        conn = Conn(proc.port, workers)
        status, body = conn.post("/send", {"from": alice.user_id, "to": bob.user_id, "id": f"m{i}", "payload": i},
                                 alice_token)
        assert status == 200 and body["duplicate"] is False, body
        served_by.append(conn.pid)
        conn.close()
    assert set(served_by) == set(workers), served_by  # both workers took part

    received: list[int] = []
    since = None
    for _ in range(MESSAGES):  # bounded: every poll returns at least one message
        conn = Conn(proc.port, workers)
        body = {"userId": bob.user_id, "timeout": 0, **({"since": since} if since else {})}
        status, events = conn.post("/poll", body, bob_token)
        conn.close()
        assert status == 200
        if not events:
            break
        received += [e["payload"] for e in events]
        since = events[-1]["id"]
    assert received == list(range(MESSAGES))  # all, once, in order

    # A poll parked on one worker wakes for a send handled by the other.
    conns = one_on_each(proc.port, workers)
    parked_on, sent_on = conns[workers[0]], conns[workers[1]]
    thread, answer = parked_poll(parked_on, bob.user_id, bob_token, since=since)
    status, _ = sent_on.post("/send", {"from": alice.user_id, "to": bob.user_id, "id": "across", "payload": "x"},
                             alice_token)
    assert status == 200
    thread.join(20)  # far less than the poll's 30 s: only a wake-up from the other worker answers in time
    assert not thread.is_alive(), "the poll parked on one worker was not woken by a send on the other"
    assert answer["status"] == 200 and [e["payload"] for e in answer["events"]] == ["x"]
    since = answer["events"][-1]["id"]

    # A newer poll on the other worker answers the older one with [].
    thread, answer = parked_poll(parked_on, bob.user_id, bob_token, since=since)
    assert sent_on.post("/poll", {"userId": bob.user_id, "since": since, "timeout": 0.2}, bob_token)[0] == 200
    thread.join(20)
    assert not thread.is_alive(), "the newer poll on one worker did not end the older one on the other"
    assert answer == {"status": 200, "events": []}
    for conn in [setup, *conns.values()]:
        conn.close()
    assert proc.stop() == 0


def test_sigterm_answers_parked_polls_and_stops_every_worker(
    relay_process: Any, tmp_path: Path, new_identity: Any
) -> None:
    proc, workers = start(relay_process, f"sqlite:{tmp_path / 'relay.db'}")
    conns = one_on_each(proc.port, workers)
    polls = []
    for conn in conns.values():
        who = new_identity()
        polls.append(parked_poll(conn, who.user_id, connect(conn, who)))
    proc.proc.send_signal(signal.SIGTERM)
    for thread, answer in polls:
        thread.join(20)
        assert not thread.is_alive() and answer == {"status": 200, "events": []}
    assert proc.proc.wait(30) == 0
    assert not any(psutil.pid_exists(pid) for pid in workers)
    assert "Traceback" not in proc.output()


def test_a_killed_worker_is_replaced_and_service_continues(
    relay_process: Any, tmp_path: Path, new_identity: Any
) -> None:
    proc, workers = start(relay_process, f"sqlite:{tmp_path / 'relay.db'}")
    victim, survivor = workers
    psutil.Process(victim).kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = workers_of(proc.proc.pid, 2)
        if victim not in now:
            break
        time.sleep(0.05)
    assert victim not in now and survivor in now
    conns = one_on_each(proc.port, now)
    alice, bob = new_identity(), new_identity()
    tokens = {who.user_id: connect(conns[survivor], who) for who in (alice, bob)}
    replacement = next(pid for pid in now if pid != survivor)
    status, _ = conns[replacement].post(
        "/send", {"from": alice.user_id, "to": bob.user_id, "id": "after", "payload": "ok"}, tokens[alice.user_id])
    assert status == 200
    status, events = conns[survivor].post("/poll", {"userId": bob.user_id, "timeout": 0}, tokens[bob.user_id])
    assert status == 200 and [e["payload"] for e in events] == ["ok"]
    # Wake-ups reach the replacement too: a poll parked there wakes for a send on the survivor.
    thread, answer = parked_poll(conns[replacement], bob.user_id, tokens[bob.user_id], since=events[-1]["id"])
    status, _ = conns[survivor].post(
        "/send", {"from": alice.user_id, "to": bob.user_id, "id": "woken", "payload": "up"}, tokens[alice.user_id])
    assert status == 200
    thread.join(20)
    assert not thread.is_alive() and [e["payload"] for e in answer["events"]] == ["up"]
    for conn in conns.values():
        conn.close()
    assert proc.stop() == 0
    assert "signal SIGKILL" in proc.output()


def test_rate_limits_count_once_across_workers(relay_process: Any, shared_store: str) -> None:
    burst = 6
    proc, workers = start(relay_process, shared_store, "--rate-per-address", "0.001",
                          "--burst-per-address", str(burst))
    statuses, served_by = [], set()
    # Each on a new connection, so both workers charge the address. Which worker accepts a
    # connection is the kernel's choice: go on (at most 200) until both took part.
    for _ in range(200):
        conn = Conn(proc.port, workers)
        statuses.append(conn.post("/connect", {})[0])  # charged before the body is even read
        served_by.add(conn.pid)
        conn.close()
        if len(statuses) >= 2 * burst + 2 and served_by == set(workers):
            break
    assert served_by == set(workers), f"one worker took all {len(statuses)} connections"
    assert statuses[:burst] == [422] * burst and set(statuses[burst:]) == {429}, statuses
    assert proc.stop() == 0


def test_one_worker_is_the_one_process_relay(relay_process: Any, tmp_path: Path) -> None:
    assert parse().workers == 1
    proc = relay_process("single", "--workers", "1", "--store", f"sqlite:{tmp_path / 'relay.db'}")
    proc.wait_ready()
    assert psutil.Process(proc.proc.pid).children() == []  # serves in this process, no supervisor
    assert proc.stop() == 0
