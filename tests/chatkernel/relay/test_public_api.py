"""The package's public surface is small, sorted, honest, and importing it does nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import chatkernel.relay as relay

PACKAGE = Path(relay.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert relay.__all__ == sorted(relay.__all__)
    assert len(set(relay.__all__)) == len(relay.__all__)
    for name in relay.__all__:
        value = getattr(relay, name)
        if callable(value):
            assert value.__module__.startswith("chatkernel.relay"), name
    # The names are loaded lazily, so dir() (the module's __dir__), not vars(), lists them all.
    public = {n for n in dir(relay) if not n.startswith("_") and not isinstance(getattr(relay, n), type(sys))}
    assert public == set(relay.__all__)


def test_implementation_modules_are_private() -> None:
    """All but ``protocol``, the one module a client of the relay imports on purpose."""
    modules = [p for p in PACKAGE.rglob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    assert modules and all(p.name.startswith("_") or p == PACKAGE / "protocol.py" for p in modules)
    for path in modules:
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} is too long"


def test_import_has_no_side_effects() -> None:
    code = textwrap.dedent("""
        import asyncio, logging, socket, sys, threading
        opened = []
        real_socket = socket.socket.__init__
        def spy(self, *a, **k):
            opened.append(a)
            real_socket(self, *a, **k)
        socket.socket.__init__ = spy
        threads = threading.active_count()
        root = list(logging.getLogger().handlers)
        import chatkernel.relay
        assert "starlette" not in sys.modules and "uvicorn" not in sys.modules, "the package loads lazily"
        import chatkernel.relay.__main__
        assert opened == [], opened
        assert threading.active_count() == threads
        assert logging.getLogger().handlers == root
        assert logging.getLogger("uvicorn").handlers == []
        assert "redis" not in sys.modules, "redis is imported lazily"
        print("clean")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean" and proc.stderr == ""
