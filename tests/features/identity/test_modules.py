"""Each identity module keeps a sorted, honest __all__ and imports cleanly on its own."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = ["errors", "events", "_safety", "_record", "_invite", "_qr", "_trust", "_api", "_config", "_contact",
           "_schema", "service", "machine", "ui"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_exists(name):
    module = importlib.import_module(f"features.identity.{name}")
    assert list(module.__all__) == sorted(module.__all__)
    for item in module.__all__:
        assert hasattr(module, item), item


def test_errors_share_one_base():
    from features.identity import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.IdentityError) for c in classes)
    for name in errors.__all__:
        assert name in errors.__doc__, f"{name} is missing from the hierarchy in the docstring"


def test_the_pure_modules_import_without_segno_or_the_relay_server():
    code = ("import sys; import features.identity._safety, features.identity._record, features.identity._invite, "
            "features.identity._trust, features.identity.events, features.identity._contact, "
            "features.identity.service; "
            "bad = [m for m in ('segno', 'starlette', 'uvicorn', 'httpx') if m in sys.modules]; print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
