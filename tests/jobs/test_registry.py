"""Running claimed jobs: success, a handler that raises (retried), a rejected payload or an
unknown kind (dead at once, visibly), and a worker that lost its lease."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.jobs.queue import LeaseWatch, claim, enqueue
from darvaza.jobs.registry import JobContext, JobKind, PayloadRejected, Registry, run_claimed
from tests.support.jobs import parts


def _boom(_context: JobContext, _payload: dict[str, Any]) -> None:
    raise RuntimeError("handler exploded")


def _picky(_context: JobContext, payload: dict[str, Any]) -> None:
    if "order_id" not in payload:
        raise PayloadRejected("order_id is missing")


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    """The payloads the `ok` handler ran with, in this test only."""
    return []


@pytest.fixture
def registry(seen: list[dict[str, Any]]) -> Registry:
    def ok(_context: JobContext, payload: dict[str, Any]) -> None:
        seen.append(payload)

    registry = Registry()
    for name, handler in (("ok", ok), ("boom", _boom), ("picky", _picky)):
        registry.register(JobKind(name, handler))
    return registry


def _run(
    db: Database, registry: Registry, kind: str, payload: dict[str, Any] | None = None
) -> tuple[str, Job]:
    with db.transaction() as session:
        job_id = enqueue(session, kind, payload)
    (claimed,) = claim(db, "w1")
    outcome = run_claimed(parts(db), registry, claimed)
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return outcome, job


def test_success(db: Database, registry: Registry, seen: list[dict[str, Any]]) -> None:
    outcome, job = _run(db, registry, "ok", {"x": 1})
    assert (outcome, job.state) == ("succeeded", "succeeded")
    assert seen == [{"x": 1}]


def test_a_raising_handler_is_retried_with_its_traceback(db: Database, registry: Registry) -> None:
    outcome, job = _run(db, registry, "boom")
    assert (outcome, job.state) == ("queued", "queued")
    assert "RuntimeError: handler exploded" in (job.last_error or "")
    assert "Traceback" in (job.last_error or "")


def test_a_rejected_payload_and_an_unknown_kind_end_dead_at_once(
    db: Database, registry: Registry
) -> None:
    outcome, job = _run(db, registry, "picky", {})
    assert (outcome, job.state, job.attempts) == ("dead", "dead", 1)
    assert "order_id is missing" in (job.last_error or "")
    outcome, job = _run(db, registry, "no.such.kind")
    assert (outcome, job.state) == ("dead", "dead")
    assert "unknown job kind" in (job.last_error or "")


def test_a_worker_that_lost_its_lease_records_nothing(db: Database, registry: Registry) -> None:
    with db.transaction() as session:
        enqueue(session, "ok")
    (claimed,) = claim(db, "slow", lease=timedelta(seconds=1))
    watch = LeaseWatch(timedelta(seconds=1))
    watch.rescue(db)
    time.sleep(1)
    assert watch.rescue(db) == 1
    assert run_claimed(parts(db), registry, claimed) == "lost"


def test_a_kind_declared_twice_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="declared twice"):
        registry.register(JobKind("ok", _boom))
