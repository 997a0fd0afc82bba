"""The feature contract: the seed's object literal as a validated, immutable record.

A feature is the smallest autonomous reason for change. Its contract names what it needs
(``dependencies``), what it hears and says (``subscribed_events``/``emitted_events``) and how
it starts (``on_mount``); nothing else about it is visible to the kernel.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from ._errors import ChatKernelError, FeatureContractError
from ._events import check_event_type
from ._settings import check_settings_record
from ._specs import KERNEL, USER, EventSpec

__all__ = ["FEATURE_ID_PATTERN", "Feature", "MountResult", "as_feature"]

FEATURE_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: A lifecycle hook takes the feature's context (see ``FeatureContext``).
Hook = Callable[[Any], "Awaitable[Any] | Any"]


@dataclass(frozen=True)
class MountResult:
    """What ``on_mount`` hands back: the feature's actor and/or service.

    Subscribed events are routed to ``actor`` (as ``actor.send(TYPE, bus_event=event)``) or, for
    features without a machine, to ``handler(event)``. ``service`` is what dependents reach with
    ``ctx.dependency(id)``, checked against the Protocol each of them ``requires``.
    """

    actor: Any = None
    service: Any = None
    handler: Callable[[Any], Any] | None = None


def _ids(value: object, *, feature_id: str | None, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FeatureContractError(
            f"feature {feature_id!r}: {field_name} must be a list of feature ids, got {type(value).__name__} {value!r}",
            feature_id=feature_id, field=field_name,
        )
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not FEATURE_ID_PATTERN.match(item):
            raise FeatureContractError(
                f"feature {feature_id!r}: {field_name} entry {item!r} is not a valid feature id "
                "(lower case letters, digits, '-' or '_')",
                feature_id=feature_id, field=field_name,
            )
        if item in out:
            raise FeatureContractError(
                f"feature {feature_id!r}: {field_name} lists {item!r} twice", feature_id=feature_id, field=field_name
            )
        if item == feature_id:
            raise FeatureContractError(
                f"feature {feature_id!r} cannot depend on itself", feature_id=feature_id, field=field_name
            )
        out.append(item)
    return tuple(out)


def _specs(value: object, *, feature_id: str) -> tuple[EventSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, EventSpec)) or not isinstance(value, Iterable):
        raise FeatureContractError(f"feature {feature_id!r}: emitted_events must be a list of EventSpec",
                                   feature_id=feature_id, field="emitted_events")
    out: dict[str, EventSpec] = {}
    for item in value:
        if not isinstance(item, EventSpec):
            raise FeatureContractError(
                f"feature {feature_id!r}: emitted_events entry {item!r} is not an EventSpec; declare each "
                "emitted type once, with its priority, payload fields and meaning, in the feature's events.py",
                feature_id=feature_id, field="emitted_events")
        if item.type in out:
            raise FeatureContractError(f"feature {feature_id!r}: emitted_events declares {item.type} twice",
                                       feature_id=feature_id, field="emitted_events")
        out[item.type] = item
    return tuple(out.values())


def _requires(value: object, dependencies: tuple[str, ...], *, feature_id: str) -> Mapping[str, type]:
    if not isinstance(value, Mapping):
        raise FeatureContractError(f"feature {feature_id!r}: requires must map dependency ids to Protocol classes",
                                   feature_id=feature_id, field="requires")
    for dep, protocol in value.items():
        if dep not in dependencies:
            raise FeatureContractError(f"feature {feature_id!r}: requires names {dep!r}, which is not in its "
                                       "dependencies", feature_id=feature_id, field="requires")
        if not isinstance(protocol, type) or protocol is Protocol or not getattr(protocol, "_is_protocol", False):
            raise FeatureContractError(
                f"feature {feature_id!r}: requires[{dep!r}] must be a typing.Protocol class declared in the "
                f"feature's own folder, got {protocol!r}", feature_id=feature_id, field="requires")
    return MappingProxyType(dict(value))


def _event_types(value: object, *, feature_id: str, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FeatureContractError(
            f"feature {feature_id!r}: {field_name} must be a list of event types, got {type(value).__name__}",
            feature_id=feature_id, field=field_name,
        )
    out: list[str] = []
    for item in value:
        try:
            check_event_type(item)
        except ChatKernelError as exc:
            raise FeatureContractError(f"feature {feature_id!r}: {field_name}: {exc}", feature_id=feature_id,
                                       field=field_name) from None
        if item not in out:
            out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class Feature:
    """A feature contract. Only ``id``, ``name`` and ``on_mount`` are required.

    ``emitted_events`` are :class:`EventSpec` s (each type declared once, by its emitter);
    ``subscribed_events`` are type names; ``requires`` maps a dependency to the Protocol its
    service must satisfy; ``settings`` is one frozen dataclass instance holding the defaults.
    Every field is validated on construction, with an error that names the feature and the field,
    so a broken contract fails at the line that builds it rather than at mount time.
    """

    id: str = ""
    name: str = ""
    on_mount: Hook | None = None
    version: str = "0.0.0"
    dependencies: tuple[str, ...] = ()
    on_register: Hook | None = None
    on_unmount: Hook | None = None
    subscribed_events: tuple[str, ...] = ()
    emitted_events: tuple[EventSpec, ...] = ()
    requires: Mapping[str, type] = field(default_factory=lambda: MappingProxyType({}))
    ui: Mapping[str, Callable[[], Any]] = field(default_factory=lambda: MappingProxyType({}))
    settings: Any = None
    description: str = ""

    def __post_init__(self) -> None:
        fid = self.id
        if not isinstance(fid, str) or not fid:
            raise FeatureContractError("feature contract is missing 'id'", feature_id=None, field="id")
        if not FEATURE_ID_PATTERN.match(fid):
            raise FeatureContractError(
                f"feature id {fid!r} must be lower case letters and digits, words joined by '-' or '_'",
                feature_id=fid, field="id",
            )
        if fid in (KERNEL, USER):  # they declare events too: a feature by that name could claim theirs
            raise FeatureContractError(f"feature id {fid!r} is reserved for the kernel's own declarations",
                                       feature_id=fid, field="id")
        if not isinstance(self.name, str) or not self.name.strip():
            raise FeatureContractError(f"feature {fid!r} is missing 'name'", feature_id=fid, field="name")
        if self.on_mount is None:
            raise FeatureContractError(f"feature {fid!r} is missing 'on_mount'", feature_id=fid, field="on_mount")
        for hook in ("on_mount", "on_register", "on_unmount"):
            value = getattr(self, hook)
            if value is not None and not callable(value):
                raise FeatureContractError(
                    f"feature {fid!r}: {hook} must be callable, got {type(value).__name__}", feature_id=fid, field=hook
                )
        if not isinstance(self.version, str) or not self.version:
            raise FeatureContractError(f"feature {fid!r}: version must be a non-empty str", feature_id=fid,
                                       field="version")
        set_ = object.__setattr__
        set_(self, "dependencies", _ids(self.dependencies, feature_id=fid, field_name="dependencies"))
        set_(self, "subscribed_events", _event_types(self.subscribed_events, feature_id=fid,
                                                     field_name="subscribed_events"))
        set_(self, "emitted_events", _specs(self.emitted_events, feature_id=fid))
        set_(self, "_emitted_types", tuple(spec.type for spec in self.emitted_events))
        set_(self, "requires", _requires(self.requires, self.dependencies, feature_id=fid))
        if self.settings is not None:
            check_settings_record(fid, self.settings)
        if not isinstance(self.ui, Mapping):
            raise FeatureContractError(
                f"feature {fid!r}: ui must be a mapping, got {type(self.ui).__name__}", feature_id=fid, field="ui")
        set_(self, "ui", MappingProxyType(dict(self.ui)))
        for key, factory in self.ui.items():
            if not isinstance(key, str) or not callable(factory):
                raise FeatureContractError(
                    f"feature {fid!r}: ui entry {key!r} must map a name to a zero-argument factory",
                    feature_id=fid, field="ui",
                )

    @property
    def emitted_types(self) -> tuple[str, ...]:
        return self._emitted_types  # type: ignore[attr-defined,no-any-return]

    def __repr__(self) -> str:
        deps = f", dependencies={list(self.dependencies)}" if self.dependencies else ""
        return f"Feature(id={self.id!r}, name={self.name!r}, version={self.version!r}{deps})"


def as_feature(obj: object) -> Feature:
    """Accept a :class:`Feature` or a mapping shaped like one (the seed's object literal)."""
    if isinstance(obj, Feature):
        return obj
    if isinstance(obj, Mapping):
        unknown = set(obj) - set(Feature.__dataclass_fields__)
        if unknown:
            raise FeatureContractError(
                f"feature contract {obj.get('id')!r} has unknown fields: {', '.join(sorted(map(str, unknown)))}",
                feature_id=obj.get("id") if isinstance(obj.get("id"), str) else None, field=sorted(map(str, unknown))[0],
            )
        return Feature(**obj)
    raise FeatureContractError(f"expected a Feature, got {type(obj).__name__}", feature_id=None, field=None)
