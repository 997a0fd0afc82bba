"""The ``chatkernel`` command: version, dependency graph, event catalogue, JupyterLab, relay.

Every failure ends in one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
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

TOUR = "00_kernel_tour.ipynb"


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


def _cmd_lab(args: argparse.Namespace) -> int:
    root = _notebook_dir(args.notebook_dir)
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.ip={args.host}",
        f"--ServerApp.port={args.port}",
    ]
    if (root / TOUR).exists():
        command.append(f"--LabApp.default_url=/lab/tree/{TOUR}")
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    command += args.jupyter_args
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


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

    lab = sub.add_parser("lab", help="open JupyterLab on the notebooks")
    lab.add_argument("--notebook-dir", default=None)
    lab.add_argument("--host", default="127.0.0.1")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--no-browser", action="store_true")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
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
    args = parser.parse_args(argv)
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
