"""Support's SLA targets as a setting: `urgent=60/480,high=...` names each priority's first
response and resolution targets in minutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

SLA_PRIORITIES = ("urgent", "high", "normal", "low")


@dataclass(frozen=True)
class SlaTarget:
    first_response: timedelta
    resolution: timedelta


def parse_sla(text: str) -> dict[str, SlaTarget]:
    """`urgent=60/480,high=...`: each priority's first response and resolution targets in
    minutes; every priority must be named once, and a resolution is never due before the
    first response."""
    targets: dict[str, SlaTarget] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        priority, _, minutes = entry.partition("=")
        first, _, resolution = minutes.partition("/")
        priority = priority.strip()
        if priority not in SLA_PRIORITIES or priority in targets:
            raise ValueError(
                f"{priority!r} is not a priority named once ({', '.join(SLA_PRIORITIES)})"
            )
        try:
            first_minutes, resolution_minutes = int(first), int(resolution)
        except ValueError:
            raise ValueError(f"{entry!r} is not like 'urgent=60/480' (minutes)") from None
        if not 0 < first_minutes <= resolution_minutes:
            raise ValueError(f"{entry!r}: first response must be positive and not after resolution")
        targets[priority] = SlaTarget(
            timedelta(minutes=first_minutes), timedelta(minutes=resolution_minutes)
        )
    missing = [p for p in SLA_PRIORITIES if p not in targets]
    if missing:
        raise ValueError(f"no targets for {', '.join(missing)}")
    return targets
