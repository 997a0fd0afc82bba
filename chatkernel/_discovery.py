"""Finding installed features through the ``chatkernel.features`` entry-point group.

Discovery only collects; registering stays an explicit line in the app's bootstrap, and a
broken plugin is reported rather than raised, so one bad package cannot stop the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from ._errors import ChatKernelError
from ._feature import Feature, as_feature

__all__ = ["ENTRY_POINT_GROUP", "DiscoveredFeature", "discover_features"]

ENTRY_POINT_GROUP = "chatkernel.features"


@dataclass(frozen=True)
class DiscoveredFeature:
    name: str
    value: str
    distribution: str | None
    feature: Feature | None = None
    error: str | None = None


def _load(ep: EntryPoint) -> DiscoveredFeature:
    dist = ep.dist.name if ep.dist is not None else None
    try:
        feature = as_feature(ep.load())
    except ChatKernelError as exc:
        return DiscoveredFeature(ep.name, ep.value, dist, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken plugin is data, not a crash
        return DiscoveredFeature(ep.name, ep.value, dist, error=f"{type(exc).__name__}: {exc}")
    return DiscoveredFeature(ep.name, ep.value, dist, feature=feature)


def discover_features(group: str = ENTRY_POINT_GROUP) -> list[DiscoveredFeature]:
    """Every entry point of ``group``, loaded, sorted by name; failures carry ``error``."""
    return [_load(ep) for ep in sorted(entry_points(group=group), key=lambda e: e.name)]
