"""Each auth module keeps a sorted, honest __all__, imports cleanly on its own, and the package
itself imports nothing heavy."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = ["errors", "events", "_api", "_config", "_params", "_passphrase", "_kdf", "_throttle", "_unlock", "_remember",
           "_session", "_profiles", "_mount", "service", "machine", "ui"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_exists(name):
    module = importlib.import_module(f"features.auth.{name}")
    assert list(module.__all__) == sorted(module.__all__)
    for item in module.__all__:
        assert hasattr(module, item), item


def test_errors_share_one_base_and_are_all_drawn():
    from features.auth import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.AuthError) for c in classes)
    for name in errors.__all__:
        assert name in errors.__doc__, f"{name} is missing from the hierarchy in the docstring"


def test_each_module_imports_alone_and_the_package_imports_nothing_heavy():
    code = ("import sys; import features.auth; heavy = [m for m in ('keyring', 'cryptography', 'ipywidgets') "
            "if m in sys.modules]; "
            + "; ".join(f"import features.auth.{m}" for m in MODULES) + "; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
