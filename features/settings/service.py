"""The settings' I/O and rules: hold the values, persist them atomically, probe a relay URL.

Blocking file work runs in a thread (``asyncio.to_thread``) so the kernel's loop never waits on
the disk. A file that exists but cannot be trusted is reported, never replaced by defaults:
writing defaults over it would silently lose the user's settings.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from chatkernel import write_atomic
from chatkernel.relay.protocol import SERVICE_NAME

from ._config import SettingsConfig
from ._validation import DEFAULTS, KEYS, check_url, validate
from .errors import InvalidSettingError, SettingsFileError, SettingsSaveError

__all__ = ["FILE_FORMAT", "FILE_NAME", "SettingsService", "UrlTestResult"]

FILE_NAME = "settings.json"
FILE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class UrlTestResult:
    """The outcome of probing ``GET <url>/health``; ``reason`` is None exactly when ``ok``."""

    url: str
    ok: bool
    latency_ms: float | None = None
    reason: str | None = None
    version: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return asdict(self)


class SettingsService:
    """The current settings and how they reach the disk and the network."""

    def __init__(self, state_dir: Path | None, config: SettingsConfig | None = None, **overrides: Any):
        """``config`` is the feature's settings record; ``overrides`` replace single fields of it."""
        config = replace(config or SettingsConfig(), **overrides)
        self.config = config
        self.allow_insecure_remote = bool(config.allow_insecure_remote)
        self.default_signaling_url = check_url(config.default_signaling_url, key="default_signaling_url",
                                               allow_insecure_remote=self.allow_insecure_remote)
        timeout = config.test_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidSettingError("test_timeout_s", f"must be a positive number of seconds, got {timeout!r}",
                                      value=timeout)
        self.test_timeout_s = float(timeout)
        self.path: Path | None = Path(state_dir) / FILE_NAME if state_dir is not None else None
        self._values: dict[str, Any] = dict(DEFAULTS)
        self._extra: dict[str, Any] = {}  # keys written by a newer version: kept, written back untouched
        self._writes: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ values
    @property
    def persisted(self) -> bool:
        """False when there is no state directory: changes live in memory only."""
        return self.path is not None

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._values)

    @property
    def effective_signaling_url(self) -> str:
        return self._values["signaling_url"] or self.default_signaling_url

    @property
    def custom_signaling_url(self) -> bool:
        return self._values["signaling_url"] is not None

    def validate(self, key: str, value: Any) -> Any:
        return validate(key, value, allow_insecure_remote=self.allow_insecure_remote)

    def apply(self, key: str, value: Any) -> None:
        """Adopt one value in memory (after it has been saved)."""
        self._values[key] = self.validate(key, value)

    def replace(self, values: Mapping[str, Any]) -> None:
        """Adopt a whole set of values (a restored snapshot); all valid or nothing changes."""
        self._values = self._checked(values, lambda exc: exc)

    def _checked(self, values: Mapping[str, Any], wrap: Callable[[InvalidSettingError], Exception]) -> dict[str, Any]:
        """Defaults overlaid with ``values``, every one validated; the first refusal goes through ``wrap``."""
        out = dict(DEFAULTS)
        for key in KEYS:
            if key in values:
                try:
                    out[key] = self.validate(key, values[key])
                except InvalidSettingError as exc:
                    raise wrap(exc) from None
        return out

    # ------------------------------------------------------------------ persistence
    async def load(self) -> dict[str, Any]:
        """Read the file (missing: defaults); raise :class:`SettingsFileError` if it cannot be trusted."""
        if self.path is None:
            self._values = dict(DEFAULTS)
            return self.settings
        path = self.path
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            self._values, self._extra = dict(DEFAULTS), {}
            return self.settings
        except OSError as exc:
            raise SettingsFileError(path, f"cannot be read: {_os_reason(exc, path)}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise SettingsFileError(path, "is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise SettingsFileError(path, f"is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsFileError(path, f"holds a JSON {_json_kind(data)}, expected an object")
        version = data.get("version")
        if version != FILE_FORMAT:
            detail = "has no format version" if version is None else f"has format version {version!r}"
            raise SettingsFileError(path, f"{detail}; this version reads format {FILE_FORMAT}")
        stored = data.get("settings")
        if not isinstance(stored, dict):
            raise SettingsFileError(path, f"'settings' holds a JSON {_json_kind(stored)}, expected an object")
        self._values = self._checked(stored, lambda exc: SettingsFileError(path, f"has an {exc}"))
        self._extra = {k: v for k, v in stored.items() if k not in KEYS}
        return self.settings

    async def save(self, values: Mapping[str, Any]) -> bool:
        """Write ``values`` atomically; True if written, False when memory-only.

        The in-memory values are not touched: the caller adopts them once this returns, so a
        failed write leaves every previous value in place.
        """
        checked = self._checked(values, lambda exc: exc)
        if self.path is None:
            return False
        body = json.dumps({"version": FILE_FORMAT, "settings": {**self._extra, **checked}},
                          indent=2, sort_keys=True).encode("utf-8") + b"\n"
        write = asyncio.ensure_future(asyncio.to_thread(write_atomic, self.path, body))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        try:
            await asyncio.shield(write)  # a cancelled caller must not leave a half-known write
        except OSError as exc:
            raise SettingsSaveError(self.path, _os_reason(exc, self.path)) from None
        return True

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait for writes in flight (on unmount), so the file on disk is the last one asked for."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout)

    # ------------------------------------------------------------------ network
    async def test_signaling_url(self, url: str | None = None, timeout: float | None = None) -> UrlTestResult:
        """Probe ``GET <url>/health`` (default: the effective URL); never raises for a bad relay."""
        target = self.effective_signaling_url if url is None else url
        limit = self.test_timeout_s if timeout is None else float(timeout)
        try:
            target = check_url(target, allow_insecure_remote=self.allow_insecure_remote)
        except InvalidSettingError as exc:
            return UrlTestResult(str(target), False, reason=f"invalid URL: {exc.reason}")
        return await probe_health(target, limit)

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory only"
        return f"SettingsService({self._values}, {where})"


async def probe_health(url: str, timeout: float) -> UrlTestResult:
    """One bounded health request; every way it can fail becomes a precise ``reason``."""
    health = f"{url}/health"
    parts = urlsplit(url)
    where = parts.netloc

    def failed(reason: str, latency: float | None = None) -> UrlTestResult:
        return UrlTestResult(url, False, latency, reason)

    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
                response = await client.get(health, headers={"accept": "application/json"})
    except (TimeoutError, httpx.TimeoutException):
        return failed(f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return failed(_connect_reason(exc, where))
    latency = round((time.perf_counter() - started) * 1000.0, 2)
    if not response.is_success:
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        return failed(f"HTTP {response.status_code}{phrase} from {health}", latency)
    try:
        data = response.json()
    except ValueError:
        return failed("response body is not JSON", latency)
    if not isinstance(data, dict):
        return failed(f"response is a JSON {_json_kind(data)}, expected an object", latency)
    service = data.get("service")
    if service is None:
        return failed(f"service is missing, expected {SERVICE_NAME!r}", latency)
    if service != SERVICE_NAME:
        return failed(f"service is {service!r}, expected {SERVICE_NAME!r}", latency)
    version = data.get("version")
    return UrlTestResult(url, True, latency, None, str(version) if version is not None else None)


def _connect_reason(exc: BaseException, where: str) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or getattr(seen, "errno", None) == errno.ECONNREFUSED:
            return f"connection refused by {where}"
        if isinstance(seen, socket.gaierror):
            return f"cannot resolve host of {where}: {seen.strerror or seen}"
        seen = seen.__cause__ or seen.__context__
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {where}: {detail}"
    return f"request to {where} failed: {type(exc).__name__}: {detail}"


def _os_reason(exc: OSError, path: Path) -> str:
    reason = exc.strerror or str(exc)
    names = [str(n) for n in (exc.filename, exc.filename2) if n]
    if names and str(path) not in names:
        reason += f" ({names[0]})"
    return reason


def _json_kind(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
