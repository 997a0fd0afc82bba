"""Fixtures for the browser tests: one JupyterLab server and one headless Chromium per module.

The server runs ``python -m jupyterlab`` on 127.0.0.1 with a random token, rooted in a
throw-away copy of the notebooks folder (so a run never touches the reference notebooks), with
throw-away settings, workspaces, IPython, runtime and config dirs.  Chromium is Debian's
``/usr/bin/chromium`` driven by Playwright; without it the tests skip (or fail when ``CI`` is
set).  When a browser test fails, the tail of the server log is attached to its report.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load(name: str) -> ModuleType:
    """A helper module from this folder (tests/ is no package; the suite uses importlib mode)."""
    key = f"_chatkernel_e2e{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # before exec: dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[key]


lab = _load("_lab")
lab_server_mod = _load("_lab_server")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip (fail on CI) unless Playwright and /usr/bin/chromium are both there."""
    if not (lab.CHROMIUM.is_file() and os.access(lab.CHROMIUM, os.X_OK)):
        _unavailable(f"{lab.CHROMIUM} is missing (apt-get install chromium; no playwright install)")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("the Python package playwright is not installed")


@pytest.fixture(scope="module")
def lab_server(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = lab_server_mod.LabServer(
        workdir=tmp_path_factory.mktemp("jupyterlab"),
        source_notebooks=lab.notebooks_dir(),
    )
    try:
        server.start()
    except lab_server_mod.LabServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab_browser(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A persistent Chromium context (Playwright rejects --user-data-dir in args).

    Module scope on purpose: while Playwright's sync API is started, its event loop counts as
    running in this thread, so every later async test (anyio) would fail with "Cannot run the
    event loop while another loop is running".  Stopping it at the end of the module avoids that.
    """
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(lab.CHROMIUM),
            headless=True,
            args=list(lab.CHROMIUM_ARGS),
            viewport=dict(lab.VIEWPORT),
            timeout=60_000,
        )
        try:
            context.set_default_timeout(30_000)
            yield context
        finally:
            context.close()
    finally:
        pw.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def lab_page(lab_browser: Any) -> Iterator[Any]:
    page = lab_browser.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        server = getattr(item, "funcargs", {}).get("lab_server")
        if server is not None:
            report.sections.append(("JupyterLab server log", server.log_tail(60)))
    return report
