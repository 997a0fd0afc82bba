"""The outcome of mounting: what runs, what failed and why, what was skipped because of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

__all__ = ["MountReport"]


@dataclass
class MountReport:
    """Filled in by :meth:`FeatureRegistry.mount_all`; a degraded app still boots, and says why."""

    order: list[str] = field(default_factory=list)
    mounted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)
    durations_ms: dict[str, float] = field(default_factory=dict)
    #: Subscribed types that no mounted feature declares, by subscriber: nothing will ever send them.
    unheard: dict[str, list[str]] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return bool(self.failed or self.skipped)

    @property
    def ok(self) -> bool:
        return not self.degraded

    def lines(self) -> list[str]:
        out = [f"mounted ({len(self.mounted)}): {', '.join(self.mounted) or '-'}"]
        out += [f"failed  {fid}: {why}" for fid, why in self.failed.items()]
        out += [f"skipped {fid}: {why}" for fid, why in self.skipped.items()]
        out += [f"disabled {fid}" for fid in self.disabled]
        out += [f"unheard {fid}: nothing declares {', '.join(types)}" for fid, types in self.unheard.items()]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{escape(line)}</li>" for line in self.lines())
        status = "degraded" if self.degraded else "ok"
        return f"<div class='chatkernel-mount-report'><b>mount: {status}</b><ul>{items}</ul></div>"
