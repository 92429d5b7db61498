"""Incidents' update cadence as a setting: `SEV1=30,SEV2=60,...` names how many minutes may
pass between two status updates of an incident of each severity."""

from __future__ import annotations

from datetime import timedelta

SEVERITY_NAMES = ("SEV1", "SEV2", "SEV3", "SEV4")


def parse_update_cadence(text: str) -> dict[str, timedelta]:
    """Every severity named once, each with a positive number of minutes, and a more severe
    incident never waits longer for its next update than a less severe one."""
    cadence: dict[str, timedelta] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, _, minutes = entry.partition("=")
        name = name.strip().upper()
        if name not in SEVERITY_NAMES or name in cadence:
            raise ValueError(f"{name!r} is not a severity named once ({', '.join(SEVERITY_NAMES)})")
        try:
            value = int(minutes)
        except ValueError:
            raise ValueError(f"{entry!r} is not like 'SEV1=30' (minutes)") from None
        if value <= 0:
            raise ValueError(f"{entry!r}: the minutes must be positive")
        cadence[name] = timedelta(minutes=value)
    missing = [name for name in SEVERITY_NAMES if name not in cadence]
    if missing:
        raise ValueError(f"no cadence for {', '.join(missing)}")
    ordered = [cadence[name] for name in SEVERITY_NAMES]
    if ordered != sorted(ordered):
        raise ValueError("a more severe incident must not wait longer for its next update")
    return cadence
