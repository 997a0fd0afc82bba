"""Finding the app's features: its own feature list and installed plugins, through entry points.

An entry point of the ``chatkernel.features`` group names either one feature contract
(``pkg.feature:feature``, what a third-party plugin ships) or a feature list: a sequence of
module paths, one line per feature (the app's own list, the seed's ``bootstrap.js``), read at
run time so adding a line needs no reinstall. Discovery only collects; a broken entry is
reported rather than raised, so one bad package cannot stop the app.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from ._errors import ChatKernelError
from ._feature import Feature, as_feature

__all__ = ["ENTRY_POINT_GROUP", "DiscoveredFeature", "discover_features", "load_feature"]

ENTRY_POINT_GROUP = "chatkernel.features"


@dataclass(frozen=True)
class DiscoveredFeature:
    name: str
    value: str
    distribution: str | None
    feature: Feature | None = None
    error: str | None = None


def load_feature(path: str) -> Feature:
    """Import ``module`` or ``module:attr`` (default attribute: ``feature``) and return the contract."""
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return as_feature(getattr(module, attr or "feature"))


def _collect(name: str, value: str, dist: str | None, load: object) -> DiscoveredFeature:
    try:
        feature = as_feature(load() if callable(load) else load)
    except ChatKernelError as exc:
        return DiscoveredFeature(name, value, dist, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken plugin is data, not a crash
        return DiscoveredFeature(name, value, dist, error=f"{type(exc).__name__}: {exc}")
    return DiscoveredFeature(name, value, dist, feature=feature)


def _load(ep: EntryPoint) -> list[DiscoveredFeature]:
    dist = ep.dist.name if ep.dist is not None else None
    try:
        target = ep.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is data, not a crash
        return [DiscoveredFeature(ep.name, ep.value, dist, error=f"{type(exc).__name__}: {exc}")]
    if isinstance(target, Sequence) and not isinstance(target, (str, bytes)):
        out = []
        for item in target:
            if not isinstance(item, str):
                out.append(DiscoveredFeature(ep.name, repr(item), dist,
                                             error=f"feature list entries are module paths, got {item!r}"))
                continue
            out.append(_collect(item.partition(":")[0].rpartition(".")[2], item, dist, lambda i=item: load_feature(i)))
        return out
    return [_collect(ep.name, ep.value, dist, target)]


def discover_features(group: str = ENTRY_POINT_GROUP) -> list[DiscoveredFeature]:
    """Every feature the group's entry points name, sorted by name; failures carry ``error``.

    A feature named twice (a plugin shadowing a listed feature) is reported, and the first kept.
    """
    found: list[DiscoveredFeature] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        found += _load(ep)
    seen: dict[str, DiscoveredFeature] = {}
    out = []
    for item in sorted(found, key=lambda d: d.name):
        fid = item.feature.id if item.feature is not None else None
        if fid is not None and fid in seen:
            out.append(DiscoveredFeature(item.name, item.value, item.distribution,
                                         error=f"feature {fid!r} is already provided by {seen[fid].value}"))
            continue
        if fid is not None:
            seen[fid] = item
        out.append(item)
    return out
