"""The relay's command line: options, exit codes, one-line errors, and logs without tokens."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import httpx
import pytest

from chatkernel.relay._cli import configure, run

from chatkernel.relay import RelayConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_defaults() -> None:
    args = parse()
    assert (args.host, args.port, args.store, args.log_level) == ("127.0.0.1", 8765, "memory", "info")
    assert args.max_body_bytes is None  # unset limits keep RelayConfig's defaults


def test_limits_reach_the_config() -> None:
    from chatkernel.relay._cli import _config

    config = _config(parse("--max-body-bytes", "1000", "--mailbox-max-len", "5", "--poll-max-timeout", "10",
                           "--poll-max-bytes", "2000"))
    assert config == RelayConfig(max_body_bytes=1000, mailbox_max_len=5, poll_max_timeout=10.0,
                                 poll_default_timeout=10.0, poll_max_bytes=2000)


def test_trace_log_level_is_not_offered() -> None:
    with pytest.raises(SystemExit):
        parse("--log-level", "trace")


@pytest.mark.parametrize(("argv", "needle"), [
    (["--store", "mongodb://x"], "invalid store"),
    (["--store", "sqlite:"], "sqlite needs a file path"),
    (["--max-body-bytes", "0"], "max_body_bytes"),
    (["--port", "70000"], "invalid port"),
])
def test_invalid_options_print_one_line_and_return_2(capsys, argv: list[str], needle: str) -> None:
    assert run(parse(*argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_unreachable_redis_returns_1(capsys, tmp_path) -> None:
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert run(parse("--store", f"redis://127.0.0.1:{port}/0", "--log-level", "critical")) == 1
    err = capsys.readouterr().err
    assert "Redis failed" in err and "Traceback" not in err


def test_module_entry_point_reports_bad_store(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "chatkernel.relay", "--store", "bogus"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "invalid store 'bogus'" in proc.stderr


def test_served_relay_logs_no_tokens_and_exits_0_on_sigterm(relay_process, new_identity) -> None:
    proc = relay_process("cli", "--log-level", "debug")
    proc.wait_ready()
    alice, bob = new_identity(), new_identity()
    with httpx.Client(base_url=proc.url, timeout=10) as http:
        tokens = [http.post("/connect", json=who.connect_body()).json()["token"] for who in (alice, bob)]
        auth = [{"Authorization": f"Bearer {t}"} for t in tokens]
        sent = http.post("/send", json={"from": alice.user_id, "to": bob.user_id, "id": "m1", "payload": "x"},
                         headers=auth[0])
        assert sent.status_code == 200
        assert http.post("/poll", json={"userId": bob.user_id, "timeout": 0}, headers=auth[1]).json()
        assert http.post("/poll", json={"userId": bob.user_id}, headers={"Authorization": "Bearer wrong"}
                         ).status_code == 401
        assert http.post("/disconnect", headers=auth[0]).status_code == 200
    time.sleep(0.1)
    assert proc.stop() == 0
    output = proc.output()
    assert '"POST /send HTTP/1.1" 200' in output  # the access log is on...
    for token in tokens:
        assert token not in output  # ...and never shows a token
    assert "Bearer" not in output
