"""Errors of the settings feature, one base class, each carrying structured fields::

    SettingsError(ChatKernelError)
    ├── InvalidSettingError   a value (or key) is refused (key, value, reason)
    ├── SettingsFileError     the settings file exists but cannot be read or trusted (path, reason)
    └── SettingsSaveError     the settings file cannot be written (path, reason)
"""

from __future__ import annotations

from pathlib import Path

from chatkernel import ChatKernelError

__all__ = ["InvalidSettingError", "SettingsError", "SettingsFileError", "SettingsSaveError"]


class SettingsError(ChatKernelError):
    """Base of every settings error."""


class InvalidSettingError(SettingsError):
    def __init__(self, key: str, reason: str, *, value: object = None):
        super().__init__(f"invalid {key}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


class SettingsFileError(SettingsError):
    """Raised instead of falling back to defaults, so a damaged file is never overwritten."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"settings file {path} {reason}")
        self.path = path
        self.reason = reason


class SettingsSaveError(SettingsError):
    def __init__(self, path: Path, reason: str):
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason
