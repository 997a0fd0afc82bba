"""Errors raised by the kernel.

Every error the kernel raises derives from :class:`ChatKernelError` and carries structured
fields, so callers (and the explorer) can act on them without parsing messages::

    ChatKernelError
    ├── FeatureContractError        a feature contract is malformed (field, feature_id)
    ├── DuplicateFeatureError       a feature id is registered twice (feature_id)
    ├── UnknownFeatureError         an operation names an unregistered feature (feature_id)
    ├── DependencyCycleError        the dependency graph has a cycle (cycle: the full path)
    ├── MissingDependencyError      a dependency is not registered (feature_id, dependency)
    ├── InvalidEventError           an event type or priority is malformed (event_type)
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
    "FeatureContractError",
    "InvalidEventError",
    "MissingDependencyError",
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
