"""chatkernel: the kernel of a feature-based chat for JupyterLab.

Features register with a :class:`FeatureRegistry`, mount in dependency order, and talk only
through the priority :class:`EventBus`; their state machines run as :class:`Actor` s.
``await bootstrap(features)`` wires everything and returns a running :class:`App`.
"""

from ._actors import RESERVED_KWARGS, SNAPSHOT_VERSION, Actor, ActorInfo, ActorRegistry
from ._app import App
from ._app_machine import STARTUP_TYPES, AppHost, AppMachine
from ._bootstrap import STRICT_ENV, bootstrap, strict_default
from ._budget import BudgetViolation, PerformanceBudget
from ._bus import BusStats, EventBus, HandlerFailure, Subscription
from ._causality import new_chain, spawn_task
from ._config import KernelConfig, load_kernel_config, save_kernel_config
from ._context import FeatureContext
from ._discovery import ENTRY_POINT_GROUP, DiscoveredFeature, discover_features, load_feature
from ._errors import (
    ActorError,
    BootError,
    ChatKernelError,
    DependencyCycleError,
    DuplicateFeatureError,
    EventSpecConflictError,
    FeatureContractError,
    InvalidEventError,
    MissingDependencyError,
    PayloadError,
    ServiceContractError,
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
from ._files import write_atomic
from ._fire import fire, forwarder
from ._graph import DependencyGraph, GraphNode, Mermaid
from ._inspection import InspectionRecord
from ._labels import LabelError, normalize_label
from ._logging import configure_logging
from ._loopback import is_loopback_host
from ._machine import Machine, MachineHost, bus_payload
from ._metrics import Metrics, TimingStats, feature_metric
from ._ratelimit import TokenBucket
from ._registry import FeatureRegistry, topological_order
from ._report import MountReport
from ._ringbuffer import RingBuffer
from ._services import check_service
from ._settings import settings_schema
from ._specs import KERNEL_SPECS, USER, EventSpec, SpecCatalog
from ._version import __version__

__all__ = [
    "APP_READY",
    "APP_SHUTDOWN",
    "Actor",
    "ActorError",
    "ActorInfo",
    "ActorRegistry",
    "App",
    "AppHost",
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
    "EventSpec",
    "EventSpecConflictError",
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
    "KERNEL_SPECS",
    "KernelConfig",
    "LabelError",
    "Machine",
    "MachineHost",
    "Mermaid",
    "Metrics",
    "MissingDependencyError",
    "MountReport",
    "MountResult",
    "PayloadError",
    "PerformanceBudget",
    "Priority",
    "RESERVED_KWARGS",
    "RingBuffer",
    "SNAPSHOT_VERSION",
    "STARTUP_TYPES",
    "STRICT_ENV",
    "ServiceContractError",
    "SnapshotError",
    "SpecCatalog",
    "Subscription",
    "TimingStats",
    "TokenBucket",
    "USER",
    "UnknownFeatureError",
    "__version__",
    "bootstrap",
    "bus_payload",
    "check_event_type",
    "check_service",
    "configure_logging",
    "discover_features",
    "feature_metric",
    "fire",
    "forwarder",
    "is_loopback_host",
    "load_feature",
    "load_kernel_config",
    "new_chain",
    "normalize_label",
    "save_kernel_config",
    "settings_schema",
    "spawn_task",
    "strict_default",
    "topological_order",
    "write_atomic",
]
