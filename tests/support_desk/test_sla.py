"""The SLA ledger's arithmetic, on its own: running time counts only the intervals the
clock ran, and a due time exists only while it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from darvaza.config import SLA_PRIORITIES
from darvaza.security.grants import DATA_CLASSES, WRITE_ACTIONS
from darvaza.support.models import CATEGORIES, PRIORITIES
from darvaza.support.schemas import Category, DataClass, GrantAction, Priority
from darvaza.support.sla import Interval, due_at, running_time, time_left

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_a_paused_stretch_does_not_count_and_the_due_time_moves_by_it() -> None:
    ran = [Interval(T0, T0 + 30 * MINUTE), Interval(T0 + 300 * MINUTE, None)]
    now = T0 + 310 * MINUTE
    assert running_time(ran, now) == 40 * MINUTE
    assert due_at(ran, 480 * MINUTE) == T0 + 300 * MINUTE + 450 * MINUTE
    assert time_left(ran, 480 * MINUTE, now) == 440 * MINUTE
    paused = [Interval(T0, T0 + 30 * MINUTE)]
    assert due_at(paused, 480 * MINUTE) is None
    assert time_left(paused, 480 * MINUTE, T0 + 10_000 * MINUTE) == 450 * MINUTE


@given(
    st.lists(st.tuples(st.integers(0, 600), st.integers(0, 600)), max_size=6),
    st.integers(1, 2000),
    st.booleans(),
)
def test_the_due_time_is_when_the_running_clock_reaches_the_target(
    gaps: list[tuple[int, int]], target_minutes: int, running: bool
) -> None:
    """Intervals separated by pauses: at the due time, exactly the target has run."""
    ledger, at = [], T0
    for pause, run in gaps:
        at += pause * MINUTE
        ledger.append(Interval(at, at + run * MINUTE))
        at += run * MINUTE
    if running:
        ledger.append(Interval(at + MINUTE, None))
    target = target_minutes * MINUTE
    due = due_at(ledger, target)
    if not running:
        assert due is None
        return
    assert due is not None
    assert running_time(ledger, due) == target
    assert time_left(ledger, target, due) == timedelta()


def test_the_contracts_literals_are_the_tables_values() -> None:
    assert set(Priority.__args__) == set(PRIORITIES) == set(SLA_PRIORITIES)
    assert set(Category.__args__) == set(CATEGORIES)
    assert set(DataClass.__args__) == set(DATA_CLASSES)
    assert set(GrantAction.__args__) == WRITE_ACTIONS
