"""Every notebook in ``notebooks/`` runs cleanly in a real JupyterLab in headless Chromium.

Per notebook: open it, run all cells, and require no error output, an execution count on every
non-empty code cell, widgets and Mermaid diagrams that rendered, and two screenshots in
``artifacts/screenshots/`` (``<stem>.png`` with code, ``<stem>-no-code.png`` without).  The
notebook is never saved; the server runs on a throw-away copy of the folder.

    .venv/bin/python -m pytest tests/e2e -p no:nbval -o addopts="-p no:cacheprovider --import-mode=importlib" -q

``CHATKERNEL_E2E_NOTEBOOKS=/some/dir`` runs the same checks over another folder.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import pytest


lab = sys.modules["_chatkernel_e2e_lab"]  # loaded by conftest.py, which pytest imports first

NOTEBOOKS = lab.notebook_names()
MIN_SCREENSHOT_BYTES = 10_000


@pytest.mark.browser
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(name: str, lab_server: Any, lab_page: Any) -> None:
    try:
        result = lab.run_notebook_in_lab(lab_page, lab_server.base_url, lab_server.token, name)
    except lab.LabTimeout as exc:
        pytest.fail(f"{name}: {exc}", pytrace=False)
    print(result.summary())  # shown with -rP / on failure
    if result.empty_widget_cells:
        warnings.warn(
            f"{name}: widget views show nothing after Run All in JupyterLab (closed by a later "
            f"cell?): {result.empty_widget_cells}",
            UserWarning,
            stacklevel=1,
        )
    if result.screenshot_truncated:
        warnings.warn(f"{name}: screenshot cut at {lab.MAX_SCREENSHOT_HEIGHT} px", UserWarning,
                      stacklevel=1)

    problems: list[str] = []
    if result.run_error:
        problems.append(f"notebook:run-all-cells rejected: {result.run_error}")
    if result.errors:
        problems.append(
            f"{len(result.errors)} error output(s):\n"
            + "\n".join(f"  {err}\n{_indent(err.traceback, 6)}" for err in result.errors)
        )
    if result.unexecuted:
        problems.append(f"code cells without an execution count: {result.unexecuted}")
    if result.widget_problems:
        problems.append("widgets did not render:\n  " + "\n  ".join(result.widget_problems))
    if result.mermaid_problems:
        problems.append("Mermaid diagrams did not render:\n  "
                        + "\n  ".join(result.mermaid_problems))
    for shot in (result.screenshot, result.screenshot_no_code):
        if shot is None or not shot.is_file():
            problems.append(f"screenshot missing: {shot}")
        elif shot.stat().st_size < MIN_SCREENSHOT_BYTES:
            problems.append(f"screenshot suspiciously small ({shot.stat().st_size} B): {shot}")
    assert not problems, f"{name} in JupyterLab:\n" + "\n".join(problems) + "\n" + result.summary()
    assert result.code_cells > 0, f"{name} has no code cells"


def _indent(text: str, n: int, max_lines: int = 25) -> str:
    lines = text.splitlines()[-max_lines:]
    return "\n".join(" " * n + line for line in lines)
