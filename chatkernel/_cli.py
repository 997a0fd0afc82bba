"""The ``chatkernel`` command: version, dependency graph, event catalogue, JupyterLab, relay.

Every failure ends in one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ._discovery import discover_features
from ._errors import ChatKernelError
from ._feature import Feature, as_feature
from ._registry import FeatureRegistry
from ._specs import SpecCatalog
from ._types import describe, is_not_required
from ._version import __version__

__all__ = ["main"]

FIRST_NOTEBOOK = "03_quickstart.ipynb"  # the one a new user opens first


class CLIError(ChatKernelError):
    """A user error on the command line: printed as one line, exit code 2."""


def _load_feature(spec: str) -> Feature:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CLIError(f"--feature expects MODULE:ATTRIBUTE, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"cannot import {module_name!r}: {exc}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise CLIError(f"module {module_name!r} has no attribute {attr!r}") from None
    return as_feature(obj)


def _registry(args: argparse.Namespace) -> FeatureRegistry:
    """The installed features (unless ``--no-installed``) and the ``--feature`` ones, registered, not mounted."""
    registry = FeatureRegistry()
    if not args.no_installed:
        for found in discover_features():
            if found.error:
                print(f"warning: installed feature {found.name!r} skipped: {found.error}", file=sys.stderr)
            elif found.feature is not None:
                registry.register(found.feature)
    for spec in args.feature:
        registry.register(_load_feature(spec))
    return registry


def _cmd_graph(args: argparse.Namespace) -> int:
    registry = _registry(args)
    registry.order()  # a cycle or a missing dependency is an error, not a picture
    graph = registry.graph()
    text = {"dot": graph.to_dot, "mermaid": graph.to_mermaid, "text": graph.to_text}[args.format]()
    print(text)
    return 0


def _events_table(catalog: SpecCatalog) -> str:
    """One row per event type; optional payload fields end in ``?``."""
    rows = [("TYPE", "PRIORITY", "DECLARED BY", "FIELDS", "MEANING")]
    for owner, spec in catalog.items():
        fields = ", ".join(f"{name}{'?' if is_not_required(annotation) else ''}: {describe(annotation)}"
                           for name, annotation in spec.fields.items())
        rows.append((spec.type, spec.priority.name, owner, fields or "-", spec.doc))  # type: ignore[union-attr]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[4]]) for row in rows)


def _cmd_events(args: argparse.Namespace) -> int:
    catalog = _registry(args).catalog
    if args.format == "json":
        print(json.dumps(catalog.json_schema(), indent=2))
    else:
        print(_events_table(catalog))
    return 0


def _notebook_dir(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise CLIError(f"notebook directory {explicit!r} does not exist")
        return path.resolve()
    for candidate in (Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    return Path.cwd()


LAB_GRACE = 10.0  # seconds JupyterLab gets to stop after a forwarded signal before it is killed

# Run as the child's first program on Linux: ask the kernel for SIGTERM when our parent dies, even by
# SIGKILL, then exec JupyterLab (the request survives exec). A parent that died before the request took
# effect would never be noticed, hence the check.
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, ctypes.c_ulong(signal.SIGTERM))  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


def _lab_command(args: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    """The JupyterLab command line: our options first, then ``extra`` unchanged but for argparse's ``--``,
    which would make jupyter take every option after it for a file name."""
    root = _notebook_dir(args.notebook_dir)
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.ip={args.host}",
        f"--ServerApp.port={args.port}",
    ]
    if (root / FIRST_NOTEBOOK).exists():
        command.append(f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}")
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    passthrough = list(extra)
    if "--" in passthrough:
        passthrough.remove("--")
    return command + passthrough


class _Stopping(Exception):
    """Raised by the signal handler to leave the unbounded wait for JupyterLab for the bounded one."""


def _run_lab(command: list[str]) -> int:
    """Run JupyterLab as a child that does not outlive us, and return its exit code (130 after SIGINT).

    SIGINT and SIGTERM are forwarded to it, then it gets ``LAB_GRACE`` seconds before SIGKILL; on Linux
    it also gets SIGTERM if we die abruptly. Otherwise a killed ``chatkernel lab`` leaves a server running.
    """
    received: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if child is not None and child.returncode is None:
            child.send_signal(signum)
            if len(received) == 1:  # the first one, which can only come in the unbounded wait
                raise _Stopping

    if sys.platform.startswith("linux"):
        command = [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]
    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            child = subprocess.Popen(command)
            for signum in received:  # arrived while it was starting
                child.send_signal(signum)
            if not received:
                child.wait()
        except _Stopping:
            pass
        try:
            code = child.wait(timeout=LAB_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if signal.SIGINT in received:
        return 130
    return 128 - code if code < 0 else code


def _cmd_lab(args: argparse.Namespace) -> int:
    return _run_lab(_lab_command(args, args.jupyter_args))


def _relay_module():  # the relay pulls in uvicorn and starlette: import it only when asked for
    return importlib.import_module("chatkernel.relay._cli")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatkernel", description="Feature-based chat kernel for JupyterLab.")
    parser.add_argument("--version", action="version", version=f"chatkernel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    graph = sub.add_parser("graph", help="print the registered features' dependency graph")
    graph.add_argument("--format", choices=("dot", "mermaid", "text"), default="dot")
    graph.add_argument("--feature", action="append", default=[], metavar="MODULE:ATTR",
                       help="also register this feature contract (repeatable)")
    graph.add_argument("--no-installed", action="store_true", help="ignore features installed as entry points")
    graph.set_defaults(handler=_cmd_graph)

    events = sub.add_parser("events", help="print the event catalogue: every declared type, its payload and declarer")
    events.add_argument("--format", choices=("table", "json"), default="table",
                        help="json: one JSON Schema (2020-12) document, a $defs entry per type")
    events.add_argument("--feature", action="append", default=[], metavar="MODULE:ATTR",
                        help="also register this feature contract (repeatable)")
    events.add_argument("--no-installed", action="store_true", help="ignore features installed as entry points")
    events.set_defaults(handler=_cmd_events)

    # no abbreviations: an option of JupyterLab's that is a prefix of one of ours stays JupyterLab's
    lab = sub.add_parser("lab", help="open JupyterLab on the notebooks", allow_abbrev=False,
                         usage="chatkernel lab [-h] [--notebook-dir DIR] [--host HOST] [--port PORT] [--no-browser]"
                               " [--] [JUPYTERLAB-OPTION ...]",
                         description="Any other option, such as --LabApp.expose_app_in_browser=True, is passed on "
                                     "to JupyterLab unchanged, with or without a -- before it.")
    lab.add_argument("--notebook-dir", default=None, metavar="DIR")
    lab.add_argument("--host", default="127.0.0.1")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--no-browser", action="store_true")
    lab.set_defaults(handler=_cmd_lab)

    relay = sub.add_parser("relay", help="run the message relay server")
    if "relay" not in argv:
        return parser
    try:
        relay_cli = _relay_module()
    except ImportError as exc:
        relay.set_defaults(handler=lambda _a, exc=exc: _fail(f"the relay is unavailable: {exc}"))
    else:
        relay_cli.configure(relay)
        relay.set_defaults(handler=relay_cli.run)
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"chatkernel: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    stray = [a for a in argv[:argv.index("lab")] if a in extra] if args.command == "lab" else extra
    if stray:  # before the command nothing is JupyterLab's: `chatkernel --bogus lab` is a typo
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if args.command == "lab":
        args.jupyter_args = extra  # what lab does not know is JupyterLab's: argparse.REMAINDER refuses options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except CLIError as exc:
        return _fail(str(exc))
    except ChatKernelError as exc:
        return _fail(str(exc), code=1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
