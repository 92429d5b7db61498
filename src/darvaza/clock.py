"""The one place Darvaza reads the time, so tests can move it (`shift_clock`): the clock
keeps running, only ahead of the wall clock, so order and durations stay real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# How far ahead of the wall clock Darvaza's time runs (only tests move it).
_SHIFT = [timedelta()]


def utcnow() -> datetime:
    return datetime.now(UTC) + _SHIFT[0]


def shift_clock(by: timedelta | None) -> None:
    """Move Darvaza's time forward by `by` (None: back to the wall clock). For tests: an
    injected clock that hours of SLA or grant time pass through in a moment."""
    _SHIFT[0] = timedelta() if by is None else _SHIFT[0] + by
