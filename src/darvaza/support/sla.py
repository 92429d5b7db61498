"""SLA arithmetic over a ticket's ledger of running intervals.

The clock runs while the ticket is the agents' to move (new, open) and stands still while
it waits on its requester (pending) or is solved. A target is met within `target` of
running time; while the clock runs its due time is fixed (the open interval's start plus
what is left of the target), while it stands there is none, only time left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The states in which the clock runs.
RUNNING_STATES = frozenset({"new", "open"})


@dataclass(frozen=True)
class Interval:
    started_at: datetime
    ended_at: datetime | None


def running_time(ledger: Sequence[Interval], now: datetime) -> timedelta:
    """How long the clock has run, up to `now`."""
    total = timedelta()
    for interval in ledger:
        end = now if interval.ended_at is None else min(interval.ended_at, now)
        total += max(end - interval.started_at, timedelta())
    return total


def due_at(ledger: Sequence[Interval], target: timedelta) -> datetime | None:
    """When the clock's running time reaches `target`, if the clock runs now (it may be a
    moment already past, in an earlier stretch); None while it stands (a paused clock
    falls due at no fixed time)."""
    if not any(interval.ended_at is None for interval in ledger):
        return None
    used = timedelta()
    for interval in sorted(ledger, key=lambda i: i.started_at):
        length = None if interval.ended_at is None else interval.ended_at - interval.started_at
        if length is None or used + length >= target:
            return interval.started_at + (target - used)
        used += length
    return None  # unreachable: the running stretch ends the walk


def time_left(ledger: Sequence[Interval], target: timedelta, now: datetime) -> timedelta:
    """What is left of `target` at `now` (negative once breached)."""
    return target - running_time(ledger, now)
