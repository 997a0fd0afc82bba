"""The architecture rules, enforced: import layers, feature independence, clean imports, honest __all__."""

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["chatkernel", "widgets", "features"]


def all_packages() -> list[str]:
    names = []
    for top in PACKAGES:
        module = importlib.import_module(top)
        names.append(top)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, prefix=f"{top}.") if m.ispkg]
    return sorted(names)


def test_import_linter_contracts_are_kept():
    """Run in a subprocess: import-linter reconfigures logging in the process that runs it."""
    code = "import sys; from importlinter.cli import lint_imports; " \
           "sys.exit(lint_imports(config_filename='.importlinter', no_cache=True))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("package", all_packages())
def test_each_package_imports_alone_without_side_effects(package):
    """Import in a fresh interpreter: no error, no output, no threads, no asyncio loop, no
    registered features or subscriptions, and no log records."""
    probe = f"""
import logging, threading, sys
records = []
class Catch(logging.Handler):
    def emit(self, record): records.append(record)
logging.getLogger().addHandler(Catch())
logging.getLogger().setLevel(logging.DEBUG)
before = threading.active_count()
import {package}
assert threading.active_count() == before, "import started a thread"
assert not records, f"import logged: {{records}}"
print("OK")
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "OK\n" and done.stderr == ""


@pytest.mark.parametrize("package", all_packages())
def test_all_is_sorted_and_lists_exactly_the_public_names(package):
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert list(exported) == sorted(exported), f"{package}.__all__ is not sorted"
    root = package.split(".")[0]

    def defined_here(value: object) -> bool:
        """Classes and functions count where they were defined; other objects where they live."""
        if isinstance(value, type) or callable(value) and hasattr(value, "__module__"):
            return str(getattr(value, "__module__", "")).startswith(root)
        return True

    # A lazy package (PEP 562 ``__getattr__``) lists the names it has not loaded yet in ``__dir__``.
    names = set(vars(module)) | (set(dir(module)) if "__getattr__" in vars(module) else set())
    public = {
        name for name in names
        if not name.startswith("_") and not isinstance(value := getattr(module, name), type(sys))
        and defined_here(value)
    }
    public |= {name for name in ("__version__",) if hasattr(module, name)}
    assert set(exported) == public, f"__all__ differs: missing {public - set(exported)}, extra {set(exported) - public}"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


def test_error_classes_share_one_base_per_package():
    import chatkernel

    errors = [getattr(chatkernel, n) for n in chatkernel.__all__ if n.endswith("Error")]
    assert all(issubclass(e, chatkernel.ChatKernelError) for e in errors)


def test_python_statemachine_internals_are_touched_in_one_module_only():
    """`_engine`, `_processing`, `_invoke_manager` and the engine's hooks stay behind chatkernel/_engine.py."""
    private = re.compile(r"(?<=[\w)])\._engine\b|\b_processing\b|_invoke_manager|_on_error_handler"
                         r"|_send_error_execution|_get_engine|statemachine\.engines|statemachine\.invoke")
    offenders = []
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == ROOT / "chatkernel" / "_engine.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if private.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_kernel_layers_contract_counts_type_checking_imports():
    config = (ROOT / ".importlinter").read_text(encoding="utf-8")
    assert "exclude_type_checking_imports = False" in config
    assert "[importlinter:contract:kernel-layers]" in config
    assert "[importlinter:contract:features-not-relay-server]" in config
