"""The console command, run as a user would: a subprocess, exit codes, stdout and stderr."""

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import jsonschema
import psutil
import pytest

from chatkernel import __version__
from chatkernel._cli import _lab_command, build_parser, main


def run(*args, cwd=None, env_path=None):
    import os

    env = dict(os.environ)
    if env_path:
        env["PYTHONPATH"] = str(env_path)
    return subprocess.run([sys.executable, "-m", "chatkernel._cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env=env)


def test_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"chatkernel {__version__}"


@pytest.fixture
def demo_module(tmp_path):
    (tmp_path / "demo_features.py").write_text(textwrap.dedent("""
        from typing import NotRequired
        from chatkernel import EventSpec, Feature
        KEY_ROTATED = EventSpec("KEY_ROTATED", "HIGH", "this user's key was replaced",
                                {"key_id": str, "previous": NotRequired[str]})
        vault = Feature(id="vault", name="Vault", on_mount=lambda ctx: None, emitted_events=[KEY_ROTATED])
        impostor = Feature(id="impostor", name="Impostor", on_mount=lambda ctx: None,
                           emitted_events=[EventSpec("RELAY_MESSAGE_RECEIVED", "LOW", "not really")])
        journal = Feature(id="journal", name="Journal", dependencies=["vault"], on_mount=lambda ctx: None)
        loop_a = Feature(id="loop-a", name="A", dependencies=["loop-b"], on_mount=lambda ctx: None)
        loop_b = Feature(id="loop-b", name="B", dependencies=["loop-a"], on_mount=lambda ctx: None)
    """))
    return tmp_path


def test_graph_formats(demo_module):
    args = ["graph", "--no-installed", "--feature", "demo_features:journal", "--feature", "demo_features:vault"]
    dot = run(*args, env_path=demo_module)
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph features {") and '"journal" -> "vault";' in dot.stdout
    mermaid = run(*args, "--format", "mermaid", env_path=demo_module)
    assert "journal --> vault" in mermaid.stdout
    text = run(*args, "--format", "text", env_path=demo_module)
    assert text.stdout.splitlines() == ["vault [registered]", "journal [registered] <- needs vault"]


@pytest.mark.parametrize("args, code, message", [
    (["graph", "--feature", "nope"], 2, "expects MODULE:ATTRIBUTE"),
    (["graph", "--feature", "no_such_module:x"], 2, "cannot import 'no_such_module'"),
    (["graph", "--feature", "demo_features:missing"], 2, "has no attribute 'missing'"),
    (["graph", "--feature", "demo_features:textwrap"], 1, "expected a Feature"),
    (["graph", "--feature", "demo_features:journal"], 1, "'journal' depends on 'vault', which is not registered"),
    (["graph", "--feature", "demo_features:loop_a", "--feature", "demo_features:loop_b"], 1,
     "dependency cycle: loop-a -> loop-b -> loop-a"),
    (["lab", "--notebook-dir", "/no/such/dir"], 2, "does not exist"),
    (["lab", "--LabApp.expose_app_in_browser=True", "--notebook-dir", "/no/such/dir"], 2, "does not exist"),
    (["events", "--feature", "nope"], 2, "expects MODULE:ATTRIBUTE"),
    (["events", "--feature", "no_such_module:x"], 2, "cannot import 'no_such_module'"),
    (["events", "--feature", "demo_features:missing"], 2, "has no attribute 'missing'"),
    (["events", "--feature", "demo_features:textwrap"], 1, "expected a Feature"),
    (["events", "--feature", "demo_features:impostor"], 1,
     "event RELAY_MESSAGE_RECEIVED is declared by both 'signaling' and 'impostor'"),
    (["events", "--no-installed", "--feature", "demo_features:vault", "--feature", "demo_features:vault"], 1,
     "feature 'vault' is already registered"),
])
def test_errors_are_one_line_without_traceback(demo_module, args, code, message):
    (demo_module / "demo_features.py").write_text(
        (demo_module / "demo_features.py").read_text() + "\nimport textwrap\n")
    done = run(*args, env_path=demo_module)
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "graph" in out and "events" in out


def test_lab_builds_a_loopback_jupyterlab_command(monkeypatch, tmp_path):
    (tmp_path / "03_quickstart.ipynb").write_text("{}")
    calls = []
    monkeypatch.setattr("chatkernel._cli._run_lab", lambda cmd: calls.append(cmd) or 0)
    assert main(["lab", "--notebook-dir", str(tmp_path), "--no-browser", "--port", "9999"]) == 0
    [cmd] = calls
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port=9999" in cmd and "--no-browser" in cmd
    assert "--LabApp.default_url=/lab/tree/03_quickstart.ipynb" in cmd
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in cmd


def test_graph_includes_installed_features():
    done = run("graph", "--format", "text")
    assert done.returncode == 0 and "signaling [registered] <- needs persistence, identity" in done.stdout.splitlines()


def test_events_table_lists_kernel_and_given_features(demo_module):
    done = run("events", "--no-installed", "--feature", "demo_features:vault", env_path=demo_module)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["TYPE", "PRIORITY", "DECLARED", "BY", "FIELDS", "MEANING"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"APP_READY", "APP_SHUTDOWN", "FEATURE_ERROR", "FEATURE_MOUNTED", "FEATURE_UNMOUNTED",
                         "KEY_ROTATED"}
    assert rows["KEY_ROTATED"].split()[:3] == ["KEY_ROTATED", "HIGH", "vault"]
    assert "key_id: str, previous?: str" in rows["KEY_ROTATED"]
    assert rows["KEY_ROTATED"].endswith("this user's key was replaced")
    assert rows["APP_SHUTDOWN"].split()[:4] == ["APP_SHUTDOWN", "HIGH", "kernel", "-"]
    assert list(rows) == sorted(rows)
    # the columns line up: every row's meaning starts where the header's does
    start = lines[0].index("MEANING")
    assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines[1:])


def test_events_json_is_the_catalogue_schema_of_installed_features():
    done = run("events", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(doc)
    received = doc["$defs"]["RELAY_MESSAGE_RECEIVED"]
    assert received["x-declared-by"] == "signaling" and received["x-priority"] == "HIGH"
    assert received["properties"]["sender"] == {"type": "string"} and "from" not in received["properties"]
    assert "sender" in received["required"]
    assert doc["$defs"]["APP_READY"]["x-declared-by"] == "kernel"
    assert doc["$defs"]["SIGNALING_URL_CHANGED"]["x-declared-by"] == "settings"
    message = jsonschema.Draft202012Validator({"$ref": "#/$defs/RELAY_MESSAGE_RECEIVED", "$defs": doc["$defs"]})
    assert message.is_valid({"relay_id": "r1", "sender": "alice", "ts": 1, "payload": {"text": "hi"}})
    assert not message.is_valid({"relay_id": "r1", "from": "alice", "ts": 1, "payload": {}})


def test_events_json_includes_given_features(demo_module):
    done = run("events", "--format", "json", "--feature", "demo_features:vault", env_path=demo_module)
    assert done.returncode == 0, done.stderr
    defs = json.loads(done.stdout)["$defs"]
    assert defs["KEY_ROTATED"]["x-declared-by"] == "vault" and defs["KEY_ROTATED"]["required"] == ["key_id"]
    assert "RELAY_MESSAGE_RECEIVED" in defs  # installed ones too, unless --no-installed


def test_events_in_process(capsys, demo_module, monkeypatch):
    monkeypatch.syspath_prepend(str(demo_module))
    try:
        assert main(["events", "--no-installed", "--format", "json", "--feature", "demo_features:vault"]) == 0
    finally:
        sys.modules.pop("demo_features", None)
    defs = json.loads(capsys.readouterr().out)["$defs"]
    assert sorted(defs) == ["APP_READY", "APP_SHUTDOWN", "FEATURE_ERROR", "FEATURE_MOUNTED", "FEATURE_UNMOUNTED",
                            "KEY_ROTATED"]


def lab_passthrough(argv):
    """What ``chatkernel lab`` would pass on to JupyterLab after its own options, and the whole command."""
    args, extra = build_parser(argv).parse_known_args(argv)
    command = _lab_command(args, extra)
    fixed = _lab_command(args, [])
    assert command[:len(fixed)] == fixed
    return command[len(fixed):], command


@pytest.mark.parametrize("argv, passed_on", [
    (["--LabApp.expose_app_in_browser=True"], ["--LabApp.expose_app_in_browser=True"]),
    (["--", "--LabApp.expose_app_in_browser=True"], ["--LabApp.expose_app_in_browser=True"]),
    (["--port", "9999", "--", "--ServerApp.token=x", "--no-browser"], ["--ServerApp.token=x", "--no-browser"]),
    (["--ServerApp.token=x", "--port", "9999", "--no-browser", "--debug"], ["--ServerApp.token=x", "--debug"]),
    (["--ServerApp.token", "x", "--port=9999", "-y"], ["--ServerApp.token", "x", "-y"]),
    (["--port", "9999", "--no"], ["--no"]),  # no abbreviation of ours: --no is not --no-browser
    (["--port", "9999"], []),
])
def test_lab_passes_every_other_option_on_to_jupyterlab(tmp_path, argv, passed_on):
    passed, command = lab_passthrough(["lab", "--notebook-dir", str(tmp_path), *argv])
    assert passed == passed_on
    assert "--" not in command
    assert command[1:3] == ["-m", "jupyterlab"] and f"--ServerApp.root_dir={tmp_path.resolve()}" in command
    if "9999" in " ".join(argv):
        assert "--ServerApp.port=9999" in command


def test_lab_keeps_its_own_options_before_and_after_passthrough(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("chatkernel._cli._run_lab", lambda cmd: calls.append(cmd) or 3)
    argv = ["lab", "--LabApp.expose_app_in_browser=True", "--notebook-dir", str(tmp_path), "--host", "::1",
            "--ServerApp.token=x", "--no-browser", "--port", "9999"]
    assert main(argv) == 3
    [cmd] = calls
    assert cmd[-2:] == ["--LabApp.expose_app_in_browser=True", "--ServerApp.token=x"]
    assert "--ServerApp.ip=::1" in cmd and "--ServerApp.port=9999" in cmd and "--no-browser" in cmd


def test_an_unknown_option_before_lab_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--bogus", "lab", "--LabApp.expose_app_in_browser=True"])
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_other_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["graph", "--no-installed", "--LabApp.expose_app_in_browser=True"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --LabApp.expose_app_in_browser=True" in capsys.readouterr().err


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def kill_all(processes):
    """Kill by pid (psutil checks it is still the same process) whatever a test left running."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def gone(process, seconds=30.0):
    """Whether ``process`` exits within ``seconds``; an unreaped zombie counts, it serves nothing."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds * 10)):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return False


@pytest.fixture
def serving_lab(tmp_path):
    """A real ``chatkernel lab`` on a loopback port with private Jupyter dirs, once it answers with a token;
    yields (chatkernel process, its JupyterLab child, port, lab page). Whatever is left is killed by pid."""
    chatkernel = Path(sys.executable).with_name("chatkernel")
    if not chatkernel.exists():
        pytest.skip("the chatkernel console script is not installed next to this Python")
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    (tmp_path / "notebooks").mkdir()
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen([str(chatkernel), "lab", "--no-browser", "--port", str(port),
                             "--notebook-dir", str(tmp_path / "notebooks"), f"--ServerApp.token={token}",
                             "--LabApp.expose_app_in_browser=True"],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    started = [psutil.Process(proc.pid)]
    try:
        page, deadline = None, time.monotonic() + 60
        for _ in range(240):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            started[1:] = started[0].children() or started[1:]  # so that cleanup finds it, whatever happens
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as response:
                    if response.status == 200:
                        page = response.read().decode()
                        break
            except OSError:
                time.sleep(0.25)
        assert page is not None, (tmp_path / "lab.log").read_text(errors="replace")
        [child] = started[0].children()
        assert child.cmdline()[1:3] == ["-m", "jupyterlab"]  # on Linux: the wrapper has exec'ed it
        yield proc, child, port, page
    finally:
        kill_all(reversed(started))
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_lab_serves_with_passthrough_and_stops_with_its_jupyterlab_on_a_signal(serving_lab, signum, code):
    proc, child, port, page = serving_lab
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    assert config["exposeAppInBrowser"] is True  # the passthrough option reached the server
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == code  # after SIGTERM, JupyterLab's own code after a clean stop
    assert gone(child)
    assert not accepts(port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_lab_jupyterlab_dies_with_a_killed_chatkernel(serving_lab):
    proc, child, port, _page = serving_lab
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert gone(child)
    assert not accepts(port)


def test_lab_kills_a_child_that_ignores_the_forwarded_signal(tmp_path):
    ready = tmp_path / "ready"
    stubborn = ("import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "pathlib.Path(sys.argv[1]).write_text('x'); time.sleep(120)")
    runner = ("import sys, chatkernel._cli as cli; cli.LAB_GRACE = 1.0; "
              f"sys.exit(cli._run_lab([sys.executable, '-c', {stubborn!r}, {str(ready)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", runner])
    started = [psutil.Process(proc.pid)]
    try:
        for _ in range(300):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists()
        started += started[0].children()
        [_, child] = started
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGKILL
        assert gone(child)
    finally:
        kill_all(reversed(started))
        proc.wait(timeout=30)
