"""The console command, run as a user would: a subprocess, exit codes, stdout and stderr."""

import subprocess
import sys
import textwrap

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
        from chatkernel import Feature
        crypto = Feature(id="crypto", name="Crypto", on_mount=lambda ctx: None)
        chat = Feature(id="chat", name="Chat", dependencies=["crypto"], on_mount=lambda ctx: None)
        loop_a = Feature(id="loop-a", name="A", dependencies=["loop-b"], on_mount=lambda ctx: None)
        loop_b = Feature(id="loop-b", name="B", dependencies=["loop-a"], on_mount=lambda ctx: None)
    """))
    return tmp_path


def test_graph_formats(demo_module):
    args = ["graph", "--no-installed", "--feature", "demo_features:chat", "--feature", "demo_features:crypto"]
    dot = run(*args, env_path=demo_module)
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph features {") and '"chat" -> "crypto";' in dot.stdout
    mermaid = run(*args, "--format", "mermaid", env_path=demo_module)
    assert "chat --> crypto" in mermaid.stdout
    text = run(*args, "--format", "text", env_path=demo_module)
    assert text.stdout.splitlines() == ["crypto [registered]", "chat [registered] <- needs crypto"]


@pytest.mark.parametrize("args, code, message", [
    (["graph", "--feature", "nope"], 2, "expects MODULE:ATTRIBUTE"),
    (["graph", "--feature", "no_such_module:x"], 2, "cannot import 'no_such_module'"),
    (["graph", "--feature", "demo_features:missing"], 2, "has no attribute 'missing'"),
    (["graph", "--feature", "demo_features:textwrap"], 1, "expected a Feature"),
    (["graph", "--feature", "demo_features:chat"], 1, "'chat' depends on 'crypto', which is not registered"),
    (["graph", "--feature", "demo_features:loop_a", "--feature", "demo_features:loop_b"], 1,
     "dependency cycle: loop-a -> loop-b -> loop-a"),
    (["lab", "--notebook-dir", "/no/such/dir"], 2, "does not exist"),
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
    assert "graph" in capsys.readouterr().out


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
    assert done.returncode == 0 and "signaling [registered]" in done.stdout.splitlines()
