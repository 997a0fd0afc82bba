"""A feature's settings: one frozen dataclass in its contract, holding the defaults.

The record is the only place a default is written. Overrides (``bootstrap(settings=...)``, the
kernel config file) are checked against its field types at registration, so a wrong type or an
unknown key names the feature and the key before anything mounts.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from ._errors import FeatureContractError
from ._types import TypeMismatch, compile_type, describe, json_schema

__all__ = ["apply_settings", "check_settings_record", "settings_schema"]


def _fields(feature_id: str, record: Any) -> dict[str, Any]:
    """Field name -> annotation, with string annotations resolved."""
    try:
        hints = typing.get_type_hints(type(record))
    except Exception as exc:  # noqa: BLE001 - a NameError in an annotation, reported as a contract error
        raise FeatureContractError(f"feature {feature_id!r}: settings annotations cannot be resolved: {exc}",
                                   feature_id=feature_id, field="settings") from None
    return {f.name: hints[f.name] for f in dataclasses.fields(record)}


def _check(feature_id: str, key: str, annotation: Any, value: object) -> None:
    try:
        compile_type(annotation)(value, key)
    except TypeError as exc:
        raise FeatureContractError(f"feature {feature_id!r}: setting {key!r}: {exc}", feature_id=feature_id,
                                   field="settings") from None
    except TypeMismatch as exc:
        error = FeatureContractError(f"feature {feature_id!r}: setting {key!r} expects {exc.expected}, got "
                                     f"{type(value).__name__} {value!r}", feature_id=feature_id, field="settings")
        error.key = key  # type: ignore[attr-defined]
        raise error from None


def check_settings_record(feature_id: str, record: Any) -> None:
    """The record must be a frozen dataclass instance whose defaults match their own types."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise FeatureContractError(
            f"feature {feature_id!r}: settings must be a frozen dataclass instance holding the defaults, "
            f"got {type(record).__name__}", feature_id=feature_id, field="settings")
    if not type(record).__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise FeatureContractError(f"feature {feature_id!r}: the settings dataclass must be frozen",
                                   feature_id=feature_id, field="settings")
    for key, annotation in _fields(feature_id, record).items():
        _check(feature_id, key, annotation, getattr(record, key))


def apply_settings(feature_id: str, record: Any, overrides: Mapping[str, Any] | None) -> Any:
    """The record with ``overrides`` applied, every key known and every value of its field's type."""
    if not overrides:
        return record
    if not isinstance(overrides, Mapping):
        raise FeatureContractError(f"settings for feature {feature_id!r} must be a mapping, got "
                                   f"{type(overrides).__name__}", feature_id=feature_id, field="settings")
    if record is None:
        raise FeatureContractError(f"feature {feature_id!r} has no settings, but got {', '.join(map(str, overrides))}",
                                   feature_id=feature_id, field="settings")
    fields = _fields(feature_id, record)
    for key, value in overrides.items():
        if key not in fields:
            error = FeatureContractError(f"feature {feature_id!r} has no setting {key!r} (known: "
                                         f"{', '.join(fields)})", feature_id=feature_id, field="settings")
            error.key = key  # type: ignore[attr-defined]
            raise error
        _check(feature_id, key, fields[key], value)
    return dataclasses.replace(record, **dict(overrides))


def settings_schema(feature_id: str, record: Any) -> dict[str, Any]:
    """The JSON Schema of a feature's settings, defaults included."""
    fields = _fields(feature_id, record)
    return {"title": f"{feature_id} settings", "type": "object", "additionalProperties": False,
            "properties": {k: {**json_schema(a), "default": getattr(record, k), "description": describe(a)}
                           for k, a in fields.items()}}
