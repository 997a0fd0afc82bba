"""What the kernel keeps between runs in its state directory, apart from any feature's own files.

``kernel.json`` is the kernel config: feature flags and per-feature settings overrides. It is
read before the registry is built (its presence makes a start *warm*) and written only when
asked (``save_kernel_config``). ``snapshots.json`` holds the actor snapshots taken at the last
shutdown (its presence makes a start *rehydrate*). User-facing settings (theme, relay URL)
belong to the settings feature, in its own file: nothing is stored twice.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import BootError
from ._files import write_atomic

__all__ = ["CONFIG_FILE", "SNAPSHOTS_FILE", "KernelConfig", "load_kernel_config", "load_snapshots",
           "save_kernel_config", "save_snapshots"]

CONFIG_FILE = "kernel.json"
SNAPSHOTS_FILE = "snapshots.json"
CONFIG_VERSION = 1


@dataclass(frozen=True)
class KernelConfig:
    """Feature flags and settings overrides (``{feature id: {setting: value}}``)."""

    flags: Mapping[str, bool] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"version": CONFIG_VERSION, "flags": dict(self.flags),
                "settings": {k: dict(v) for k, v in self.settings.items()}}


def _read_object(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BootError(f"{path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BootError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BootError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def load_kernel_config(state_dir: Path) -> KernelConfig | None:
    """The config in ``state_dir``, None if there is none; a damaged one is a BootError, never ignored."""
    path = state_dir / CONFIG_FILE
    data = _read_object(path)
    if data is None:
        return None
    unknown = sorted(set(data) - {"version", "flags", "settings"})
    if unknown:
        raise BootError(f"{path}: unknown key {unknown[0]!r} (known: version, flags, settings)")
    if data.get("version", CONFIG_VERSION) != CONFIG_VERSION:
        raise BootError(f"{path}: version {data.get('version')!r} is not supported (expected {CONFIG_VERSION})")
    flags = data.get("flags") or {}
    settings = data.get("settings") or {}
    if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
        raise BootError(f"{path}: flags must map feature ids to true or false")
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise BootError(f"{path}: settings must map feature ids to objects")
    return KernelConfig(flags=flags, settings=settings)


def save_kernel_config(state_dir: str | Path, config: KernelConfig) -> Path:
    """Write the config atomically; the next boot from ``state_dir`` starts warm with it."""
    path = Path(state_dir) / CONFIG_FILE
    write_atomic(path, (json.dumps(config.as_json(), indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return path


def load_snapshots(state_dir: Path) -> dict[str, dict[str, Any]]:
    data = _read_object(state_dir / SNAPSHOTS_FILE)
    return {k: v for k, v in (data or {}).items() if isinstance(v, dict)}


def save_snapshots(state_dir: Path, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the saved snapshots; with none to save, remove the file so stale ones never return."""
    path = state_dir / SNAPSHOTS_FILE
    if not snapshots:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    write_atomic(path, json.dumps(snapshots, indent=1, sort_keys=True, default=str).encode("utf-8"))

