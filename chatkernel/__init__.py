"""chatkernel: the kernel of a feature-based chat for JupyterLab.

Features register with a :class:`FeatureRegistry`, mount in dependency order, and talk only
through the priority :class:`EventBus`; their state machines run as :class:`Actor` s.
``await bootstrap(features)`` wires everything and returns a running :class:`App`.
"""

from ._actors import SNAPSHOT_VERSION, Actor, ActorInfo, ActorRegistry
from ._app import STARTUP_TYPES, AppMachine
from ._bootstrap import App, bootstrap
from ._budget import BudgetViolation, PerformanceBudget
from ._bus import BusStats, EventBus, HandlerFailure, Subscription
from ._context import FeatureContext
from ._discovery import ENTRY_POINT_GROUP, DiscoveredFeature, discover_features
from ._errors import (
    ActorError,
    BootError,
    ChatKernelError,
    DependencyCycleError,
    DuplicateFeatureError,
    FeatureContractError,
    InvalidEventError,
    MissingDependencyError,
    SnapshotError,
    UnknownFeatureError,
)
from ._events import (
    APP_READY,
    APP_SHUTDOWN,
    FEATURE_ERROR,
    FEATURE_MOUNTED,
    FEATURE_UNMOUNTED,
    Event,
    Priority,
    check_event_type,
)
from ._feature import Feature, MountResult
from ._fire import fire
from ._graph import DependencyGraph, GraphNode, Mermaid
from ._inspection import InspectionRecord
from ._logging import configure_logging
from ._loopback import is_loopback_host
from ._machine import Machine
from ._metrics import Metrics, TimingStats, feature_metric
from ._ratelimit import TokenBucket
from ._registry import FeatureRegistry, topological_order
from ._report import MountReport
from ._ringbuffer import RingBuffer
from ._version import __version__

__all__ = [
    "APP_READY",
    "APP_SHUTDOWN",
    "Actor",
    "ActorError",
    "ActorInfo",
    "ActorRegistry",
    "App",
    "AppMachine",
    "BootError",
    "BudgetViolation",
    "BusStats",
    "ChatKernelError",
    "DependencyCycleError",
    "DependencyGraph",
    "DiscoveredFeature",
    "DuplicateFeatureError",
    "ENTRY_POINT_GROUP",
    "Event",
    "EventBus",
    "FEATURE_ERROR",
    "FEATURE_MOUNTED",
    "FEATURE_UNMOUNTED",
    "Feature",
    "FeatureContext",
    "FeatureContractError",
    "FeatureRegistry",
    "GraphNode",
    "HandlerFailure",
    "InspectionRecord",
    "InvalidEventError",
    "Machine",
    "Mermaid",
    "Metrics",
    "MissingDependencyError",
    "MountReport",
    "MountResult",
    "PerformanceBudget",
    "Priority",
    "RingBuffer",
    "SNAPSHOT_VERSION",
    "STARTUP_TYPES",
    "SnapshotError",
    "Subscription",
    "TimingStats",
    "TokenBucket",
    "UnknownFeatureError",
    "__version__",
    "bootstrap",
    "check_event_type",
    "configure_logging",
    "discover_features",
    "feature_metric",
    "fire",
    "is_loopback_host",
    "topological_order",
]
