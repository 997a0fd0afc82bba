"""The console command, run as a user would: a subprocess, exit codes, stdout and stderr."""

import json
import subprocess
import sys
import textwrap

import jsonschema
import pytest

from chatkernel import __version__
from chatkernel._cli import main


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
                           emitted_events=[EventSpec("MESSAGE_RECEIVED", "LOW", "not really")])
        chat = Feature(id="chat", name="Chat", dependencies=["vault"], on_mount=lambda ctx: None)
        loop_a = Feature(id="loop-a", name="A", dependencies=["loop-b"], on_mount=lambda ctx: None)
        loop_b = Feature(id="loop-b", name="B", dependencies=["loop-a"], on_mount=lambda ctx: None)
    """))
    return tmp_path


def test_graph_formats(demo_module):
    args = ["graph", "--no-installed", "--feature", "demo_features:chat", "--feature", "demo_features:vault"]
    dot = run(*args, env_path=demo_module)
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph features {") and '"chat" -> "vault";' in dot.stdout
    mermaid = run(*args, "--format", "mermaid", env_path=demo_module)
    assert "chat --> vault" in mermaid.stdout
    text = run(*args, "--format", "text", env_path=demo_module)
    assert text.stdout.splitlines() == ["vault [registered]", "chat [registered] <- needs vault"]


@pytest.mark.parametrize("args, code, message", [
    (["graph", "--feature", "nope"], 2, "expects MODULE:ATTRIBUTE"),
    (["graph", "--feature", "no_such_module:x"], 2, "cannot import 'no_such_module'"),
    (["graph", "--feature", "demo_features:missing"], 2, "has no attribute 'missing'"),
    (["graph", "--feature", "demo_features:textwrap"], 1, "expected a Feature"),
    (["graph", "--feature", "demo_features:chat"], 1, "'chat' depends on 'vault', which is not registered"),
    (["graph", "--feature", "demo_features:loop_a", "--feature", "demo_features:loop_b"], 1,
     "dependency cycle: loop-a -> loop-b -> loop-a"),
    (["lab", "--notebook-dir", "/no/such/dir"], 2, "does not exist"),
    (["events", "--feature", "nope"], 2, "expects MODULE:ATTRIBUTE"),
    (["events", "--feature", "no_such_module:x"], 2, "cannot import 'no_such_module'"),
    (["events", "--feature", "demo_features:missing"], 2, "has no attribute 'missing'"),
    (["events", "--feature", "demo_features:textwrap"], 1, "expected a Feature"),
    (["events", "--feature", "demo_features:impostor"], 1,
     "event MESSAGE_RECEIVED is declared by both 'signaling' and 'impostor'"),
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
    (tmp_path / "00_kernel_tour.ipynb").write_text("{}")
    calls = []
    monkeypatch.setattr("subprocess.call", lambda cmd: calls.append(cmd) or 0)
    assert main(["lab", "--notebook-dir", str(tmp_path), "--no-browser", "--port", "9999"]) == 0
    [cmd] = calls
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port=9999" in cmd and "--no-browser" in cmd
    assert "--LabApp.default_url=/lab/tree/00_kernel_tour.ipynb" in cmd
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
    received = doc["$defs"]["MESSAGE_RECEIVED"]
    assert received["x-declared-by"] == "signaling" and received["x-priority"] == "HIGH"
    assert received["properties"]["sender"] == {"type": "string"} and "from" not in received["properties"]
    assert "sender" in received["required"]
    assert doc["$defs"]["APP_READY"]["x-declared-by"] == "kernel"
    assert doc["$defs"]["SIGNALING_URL_CHANGED"]["x-declared-by"] == "settings"
    message = jsonschema.Draft202012Validator({"$ref": "#/$defs/MESSAGE_RECEIVED", "$defs": doc["$defs"]})
    assert message.is_valid({"relay_id": "r1", "sender": "alice", "ts": 1, "payload": {"text": "hi"}})
    assert not message.is_valid({"relay_id": "r1", "from": "alice", "ts": 1, "payload": {}})


def test_events_json_includes_given_features(demo_module):
    done = run("events", "--format", "json", "--feature", "demo_features:vault", env_path=demo_module)
    assert done.returncode == 0, done.stderr
    defs = json.loads(done.stdout)["$defs"]
    assert defs["KEY_ROTATED"]["x-declared-by"] == "vault" and defs["KEY_ROTATED"]["required"] == ["key_id"]
    assert "MESSAGE_RECEIVED" in defs  # installed ones too, unless --no-installed


def test_events_in_process(capsys, demo_module, monkeypatch):
    monkeypatch.syspath_prepend(str(demo_module))
    try:
        assert main(["events", "--no-installed", "--format", "json", "--feature", "demo_features:vault"]) == 0
    finally:
        sys.modules.pop("demo_features", None)
    defs = json.loads(capsys.readouterr().out)["$defs"]
    assert sorted(defs) == ["APP_READY", "APP_SHUTDOWN", "FEATURE_ERROR", "FEATURE_MOUNTED", "FEATURE_UNMOUNTED",
                            "KEY_ROTATED"]
