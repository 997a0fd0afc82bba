"""Errors raised by the kernel.

Every error the kernel raises derives from :class:`ChatKernelError` and carries structured
fields, so callers (and the explorer) can act on them without parsing messages::

    ChatKernelError
    ├── FeatureContractError        a feature contract is malformed (field, feature_id)
    ├── DuplicateFeatureError       a feature id is registered twice (feature_id)
    ├── UnknownFeatureError         an operation names an unregistered feature (feature_id)
    ├── DependencyCycleError        the dependency graph has a cycle (cycle: the full path)
    ├── MissingDependencyError      a dependency is not registered (feature_id, dependency)
    │   └── ServiceContractError    a dependency's service lacks what the dependent requires
    │                               (feature_id, dependency, problems)
    ├── EventSpecConflictError      two declarers claim one event type (event_type, first, second)
    ├── InvalidEventError           an event type, priority or spec is malformed (event_type)
    │   └── PayloadError            strict mode: a payload does not match its spec
    │                               (event_type, field, expected, got)
    ├── ActorError                  actor lifecycle misuse: unknown id, duplicate id, stopped actor
    ├── SnapshotError               a snapshot cannot be restored (reason)
    └── BootError                   the app could not reach `ready` (reason)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ActorError",
    "BootError",
    "ChatKernelError",
    "DependencyCycleError",
    "DuplicateFeatureError",
    "EventSpecConflictError",
    "FeatureContractError",
    "InvalidEventError",
    "MissingDependencyError",
    "PayloadError",
    "ServiceContractError",
    "SnapshotError",
    "UnknownFeatureError",
]


class ChatKernelError(Exception):
    """Base class of every error the kernel raises."""


class FeatureContractError(ChatKernelError):
    def __init__(self, message: str, *, feature_id: str | None = None, field: str | None = None):
        super().__init__(message)
        self.feature_id = feature_id
        self.field = field


class ServiceContractError(FeatureContractError):
    """The provider's service does not offer what the dependent's ``requires`` Protocol names."""

    def __init__(self, feature_id: str, dependency: str, protocol: str, problems: Sequence[str]):
        self.dependency = dependency
        self.protocol = protocol
        self.problems = tuple(problems)
        super().__init__(
            f"feature {feature_id!r} requires {dependency!r} to provide {protocol}, but its service "
            + "; ".join(self.problems), feature_id=feature_id, field="requires")


class EventSpecConflictError(ChatKernelError):
    def __init__(self, event_type: str, first: str, second: str):
        super().__init__(f"event {event_type} is declared by both {first!r} and {second!r}; "
                         "a type has exactly one emitter")
        self.event_type = event_type
        self.first = first
        self.second = second


class DuplicateFeatureError(ChatKernelError):
    def __init__(self, feature_id: str):
        super().__init__(f"feature {feature_id!r} is already registered; use replace() to hot-reload it")
        self.feature_id = feature_id


class UnknownFeatureError(ChatKernelError):
    def __init__(self, feature_id: str):
        super().__init__(f"feature {feature_id!r} is not registered")
        self.feature_id = feature_id


class DependencyCycleError(ChatKernelError):
    def __init__(self, cycle: Sequence[str]):
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))


class MissingDependencyError(ChatKernelError):
    def __init__(self, feature_id: str, dependency: str):
        super().__init__(f"feature {feature_id!r} depends on {dependency!r}, which is not registered")
        self.feature_id = feature_id
        self.dependency = dependency


class InvalidEventError(ChatKernelError):
    def __init__(self, message: str, *, event_type: object = None):
        super().__init__(message)
        self.event_type = event_type


class PayloadError(InvalidEventError):
    def __init__(self, event_type: str, field: str, expected: str, got: object, *, missing: bool = False,
                 unknown: bool = False):
        if missing:
            what = f"field {field!r} is missing (expected {expected})"
        elif unknown:
            what = f"field {field!r}: {expected}"
        else:
            text = repr(got)
            text = text if len(text) <= 60 else text[:59] + "\u2026"
            what = f"field {field!r}: expected {expected}, got {type(got).__name__} {text}"
        super().__init__(f"payload of {event_type}: {what}", event_type=event_type)
        self.field = field
        self.expected = expected
        self.got = got
        self.missing = missing
        self.unknown = unknown


class ActorError(ChatKernelError):
    def __init__(self, message: str, *, actor_id: str | None = None):
        super().__init__(message)
        self.actor_id = actor_id


class SnapshotError(ChatKernelError):
    def __init__(self, reason: str):
        super().__init__(f"cannot restore snapshot: {reason}")
        self.reason = reason


class BootError(ChatKernelError):
    def __init__(self, reason: str):
        super().__init__(f"app failed to boot: {reason}")
        self.reason = reason
