"""Every state machine's table, pair by pair, against the rules as the design states them;
and the one function that moves a state refuses what the table does not allow."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import CheckConstraint

from darvaza.billing.models import PAYMENT, SUBSCRIPTION, Payment, Subscription
from darvaza.content.models import CONTENT_ITEM, ContentItem
from darvaza.db import Base
from darvaza.jobs.models import JOB, Job
from darvaza.states import IllegalTransition, StateMachine, table

# Written out by hand from the design, not from the tables: each allowed (from, to).
EXPECTED: dict[str, tuple[StateMachine, type[Base], set[tuple[str, str]]]] = {
    "payment": (PAYMENT, Payment, {
        ("created", "pending"), ("created", "failed"), ("created", "expired"),
        ("pending", "paid"), ("pending", "failed"), ("pending", "cancelled"),
        ("pending", "expired"), ("pending", "mismatch"),
        ("failed", "pending"),  # a failure on an answer that was not final, now paid
    }),
    "subscription": (SUBSCRIPTION, Subscription, {
        ("active", "expired"), ("active", "cancelled"),
        ("expired", "active"), ("cancelled", "active"),  # paid again after it ended
    }),
    "content item": (CONTENT_ITEM, ContentItem, {
        ("draft", "published"), ("published", "archived"),
    }),
    "job": (JOB, Job, {
        ("queued", "running"), ("queued", "cancelled"),
        ("running", "succeeded"), ("running", "queued"), ("running", "dead"),
        ("dead", "queued"), ("cancelled", "queued"),
    }),
}  # fmt: skip


def _constraint_states(model: type[Base]) -> set[str]:
    """The states the database's CHECK constraint accepts for `model.state`."""
    for arg in model.__table__.constraints:  # type: ignore[attr-defined]
        if isinstance(arg, CheckConstraint) and str(arg.sqltext).startswith("state IN"):
            return set(re.findall(r"'([a-z_]+)'", str(arg.sqltext)))
    raise AssertionError(f"{model.__name__} has no state constraint")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_pair_of_states_is_allowed_exactly_as_designed(name: str) -> None:
    machine, model, allowed = EXPECTED[name]
    assert set(machine.states) == _constraint_states(model)
    for source, target in itertools.product(machine.states, repeat=2):
        assert machine.allows(source, target) == ((source, target) in allowed), (source, target)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_move_changes_only_what_the_table_allows(name: str) -> None:
    machine, _model, allowed = EXPECTED[name]

    @dataclass
    class Thing:
        state: str

    for source, target in itertools.product(machine.states, repeat=2):
        thing = Thing(source)
        if (source, target) in allowed:
            assert machine.move(thing, target) == source
            assert thing.state == target
        else:
            with pytest.raises(IllegalTransition) as refused:
                machine.move(thing, target)
            assert thing.state == source  # refused: nothing changed
            assert refused.value.status_code == 409
            assert source in refused.value.message
            assert target in refused.value.message


def test_a_table_names_its_final_states_and_the_sources_of_each_state() -> None:
    assert PAYMENT.final == {"paid", "cancelled", "expired", "mismatch"}
    assert set(JOB.sources_of("queued")) == {"running", "dead", "cancelled"}
    with pytest.raises(ValueError, match="undeclared"):
        StateMachine("broken", {"a": frozenset({"b"})})
    assert table("t", a="b").transitions == {"a": frozenset({"b"}), "b": frozenset()}


def test_move_job_stamps_what_a_move_means() -> None:
    from darvaza.jobs.queue import move_job

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    job = Job(kind="k", queue="default", payload={}, state="running", attempts=1)
    move_job(job, "dead", now)
    assert (job.state, job.finished_at, job.updated_at) == ("dead", now, now)
    later = now + timedelta(minutes=1)
    move_job(job, "queued", later, run_at=later)
    assert (job.state, job.finished_at, job.run_at) == ("queued", None, later)
    with pytest.raises(IllegalTransition):
        move_job(job, "succeeded", later)  # a queued job must run first
    assert job.state == "queued"
