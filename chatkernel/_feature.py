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
from typing import TYPE_CHECKING, Any

from ._errors import ChatKernelError, FeatureContractError
from ._events import check_event_type

if TYPE_CHECKING:
    from ._context import FeatureContext

__all__ = ["Feature", "MountResult", "as_feature"]

FEATURE_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

Hook = Callable[["FeatureContext"], "Awaitable[Any] | Any"]


@dataclass(frozen=True)
class MountResult:
    """What ``on_mount`` hands back: the feature's actor and/or service.

    Subscribed events are routed to ``actor`` (as ``actor.send(TYPE, bus_event=event, **payload)``)
    or, for features without a machine, to ``handler(event)``.
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
    emitted_events: tuple[str, ...] = ()
    ui: Mapping[str, Callable[[], Any]] = field(default_factory=lambda: MappingProxyType({}))
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
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
        set_(self, "emitted_events", _event_types(self.emitted_events, feature_id=fid, field_name="emitted_events"))
        for name in ("ui", "settings"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise FeatureContractError(
                    f"feature {fid!r}: {name} must be a mapping, got {type(value).__name__}", feature_id=fid, field=name
                )
            set_(self, name, MappingProxyType(dict(value)))
        for key, factory in self.ui.items():
            if not isinstance(key, str) or not callable(factory):
                raise FeatureContractError(
                    f"feature {fid!r}: ui entry {key!r} must map a name to a zero-argument factory",
                    feature_id=fid, field="ui",
                )

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
