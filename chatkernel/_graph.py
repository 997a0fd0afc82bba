"""The feature dependency graph in three steps: extract -> plain data -> render.

The registry extracts a :class:`DependencyGraph`; renderers turn it into DOT, Mermaid or SVG.
In a notebook the graph displays itself: SVG when the Graphviz ``dot`` binary is installed,
Mermaid (rendered natively by JupyterLab >= 4.1) when it is not, so no cell ever errors.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

__all__ = ["DependencyGraph", "GraphNode", "Mermaid"]

STATUS_COLORS = {
    "mounted": "#c8e6c9",
    "registered": "#ffffff",
    "failed": "#ffcdd2",
    "skipped": "#ffe0b2",
    "disabled": "#e0e0e0",
}


@dataclass(frozen=True, slots=True)
class GraphNode:
    id: str
    name: str
    version: str
    status: str = "registered"


class Mermaid:
    """Mermaid source that JupyterLab renders as a diagram (``text/vnd.mermaid``)."""

    def __init__(self, source: str):
        self.source = source

    def __str__(self) -> str:
        return self.source

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/vnd.mermaid": self.source, "text/plain": self.source}


@dataclass(frozen=True)
class DependencyGraph:
    """Nodes in mount order; an edge ``(a, b)`` means *a depends on b* (b mounts first)."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]

    def to_dot(self) -> str:
        lines = [
            "digraph features {",
            '  graph [rankdir=BT, fontname="Helvetica"];',
            '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
            '  edge [color="#555555", arrowsize=0.7];',
        ]
        for n in self.nodes:
            label = f"{n.name}\\n{n.id} {n.version}"
            lines.append(f'  "{n.id}" [label="{label}", fillcolor="{STATUS_COLORS.get(n.status, "#ffffff")}"];')
        lines += [f'  "{a}" -> "{b}";' for a, b in self.edges]
        lines.append("}")
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        lines = ["flowchart BT"]
        for n in self.nodes:
            lines.append(f'    {_mid(n.id)}["{n.name}<br/><small>{n.id} {n.version}</small>"]:::{n.status}')
        lines += [f"    {_mid(a)} --> {_mid(b)}" for a, b in self.edges]
        lines += [f"    classDef {status} fill:{color},stroke:#555" for status, color in STATUS_COLORS.items()]
        return "\n".join(lines)

    def mermaid(self) -> Mermaid:
        return Mermaid(self.to_mermaid())

    def to_svg(self) -> str:
        """Render with the Graphviz ``dot`` binary; raises FileNotFoundError when it is missing."""
        dot = shutil.which("dot")
        if dot is None:
            raise FileNotFoundError("the Graphviz 'dot' binary is not installed")
        done = subprocess.run([dot, "-Tsvg"], input=self.to_dot().encode(), capture_output=True, timeout=30,
                              check=True)
        return done.stdout.decode()

    def to_text(self) -> str:
        deps: dict[str, list[str]] = {}
        for a, b in self.edges:
            deps.setdefault(a, []).append(b)
        return "\n".join(
            f"{n.id} [{n.status}]" + (f" <- needs {', '.join(deps[n.id])}" if n.id in deps else "")
            for n in self.nodes
        ) or "(no features)"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self.to_text()}
        try:
            bundle["image/svg+xml"] = self.to_svg()
        except (FileNotFoundError, subprocess.SubprocessError, OSError):
            bundle["text/vnd.mermaid"] = self.to_mermaid()
        return bundle


def _mid(feature_id: str) -> str:
    """Mermaid node ids cannot hold '-'."""
    return feature_id.replace("-", "_")
