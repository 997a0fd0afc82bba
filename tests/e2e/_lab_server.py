"""``python -m jupyterlab`` as a child process on 127.0.0.1 for the browser tests.

Rooted in a throw-away copy of a notebooks folder, with throw-away settings, workspaces,
IPython, runtime, config and data dirs, a random token, and bounded start and stop.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 10.0

# Throw-away JupyterLab user settings, keyed by "<package>/<plugin>".
USER_SETTINGS: dict[str, dict[str, Any]] = {
    # No "Would you like to get notified about official Jupyter news?" toast, no update check.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Attach every cell to the DOM (no virtual scrolling), so a tall viewport shows them all;
    # no scroll-past-end padding, so the notebook's scroll height is its content's height;
    # a notebook without kernelspec metadata starts the default kernel instead of a dialog.
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "scrollPastEnd": False,
        "autoStartDefaultKernel": True,
    },
    # The run is never saved: the root is a throw-away copy anyway.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_user_settings(settings_dir: Path) -> None:
    for key, values in USER_SETTINGS.items():
        target = settings_dir / f"{key}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2), encoding="utf-8")


class LabServerError(RuntimeError):
    """JupyterLab did not start (the message carries the tail of its log)."""


@dataclass
class LabServer:
    """``python -m jupyterlab`` as a child process on 127.0.0.1, rooted in a throw-away copy."""

    workdir: Path
    source_notebooks: Path
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root_dir(self) -> Path:
        return self.workdir / "root"

    @property
    def log_path(self) -> Path:
        return self.workdir / "jupyterlab-server.log"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        self._prepare()
        last: Exception | None = None
        for _ in range(attempts):  # a free port can be taken between probing and binding
            self.port = _free_port()
            try:
                self._launch()
                return
            except LabServerError as exc:
                last = exc
                self.stop()
        assert last is not None
        raise last

    def _prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.root_dir.exists():
            shutil.rmtree(self.root_dir)
        if self.source_notebooks.is_dir():
            shutil.copytree(
                self.source_notebooks,
                self.root_dir,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
        else:
            self.root_dir.mkdir(parents=True)
        for sub in ("settings", "workspaces", "ipython", "runtime", "config", "data"):
            (self.workdir / sub).mkdir(exist_ok=True)
        write_user_settings(self.workdir / "settings")

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            JUPYTER_PLATFORM_DIRS="1",
            IPYTHONDIR=str(self.workdir / "ipython"),
            JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
            JUPYTER_CONFIG_DIR=str(self.workdir / "config"),
            JUPYTER_DATA_DIR=str(self.workdir / "data"),  # notebook_secret etc.
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_TOKEN", None)
        return env

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={self.workdir / 'settings'}",
            f"--LabApp.workspaces_dir={self.workdir / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.root_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabServerError(
                    f"JupyterLab exited early with code {self.proc.returncode}\n{self.log_tail()}"
                )
            try:
                status = self.api("GET", "/api/status", timeout=2)
                if isinstance(status, dict) and "started" in status:
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.25)
        raise LabServerError(
            f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT:.0f} s\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self.shutdown_sessions()
            except Exception:  # noqa: BLE001 - best effort before the signal
                pass
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=SERVER_STOP_TIMEOUT)

    # -- REST --------------------------------------------------------------------------------

    def api(self, method: str, path: str, timeout: float = 5.0) -> Any:
        req = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        for session in self.api("GET", "/api/sessions") or []:
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=10)
            except (OSError, urllib.error.URLError):
                pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no JupyterLab server log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- tail of {self.log_path} ---\n{tail}"
