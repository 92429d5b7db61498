"""The job engine's ops checks fire from a seeded condition, resolve when it is fixed and
reopen when it comes back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from darvaza.assembly import WORK
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job, JobSchedule, WorkerHeartbeat
from darvaza.jobs.queue import enqueue
from darvaza.jobs.schedule import enqueue_due
from darvaza.jobs.service import retry_job
from darvaza.mail import SEND_MAIL
from tests.support.checks import expect_cycle, findings, run, states
from tests.support.jobs import parts as make_parts
from tests.support.world import SYSTEM


def _job(db: Database, kind: str, **values: object) -> int:
    with db.transaction() as session:
        job_id = enqueue(session, kind, {"n": 1})
        assert job_id is not None
        if values:
            session.execute(update(Job).where(Job.id == job_id).values(**values))
    return job_id


def _set_job(db: Database, job_id: int, **values: object) -> None:
    with db.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def _dead(db: Database, job_id: int) -> None:
    _set_job(db, job_id, state="dead", finished_at=utcnow(), last_error="Traceback\nBoom: no")


def test_dead_jobs_are_found_by_kind_leaving_mail_to_its_own_check(db: Database) -> None:
    parts = make_parts(db)
    job_id = _job(db, "payments.reconcile")
    _dead(db, job_id)
    _dead(db, _job(db, SEND_MAIL))
    run(parts, "jobs.dead")
    finding = findings(db, "jobs.dead")["payments.reconcile"]
    assert finding.details["dead"] == 1
    assert finding.details["latest_error"] == ["Boom: no"]
    assert SEND_MAIL not in findings(db, "jobs.dead")
    run(parts, "mail.undelivered")
    assert states(db, "mail.undelivered") == {SEND_MAIL: "open"}
    expect_cycle(
        parts, "jobs.dead", "payments.reconcile",
        fix=lambda: retry_job(db, SYSTEM, job_id), again=lambda: _dead(db, job_id),
    )  # fmt: skip


def test_due_jobs_waiting_too_long_are_queue_lag(db: Database) -> None:
    parts = make_parts(db, ops_queue_lag_seconds=60)
    late = _job(db, "payments.reconcile", run_at=utcnow() - timedelta(minutes=10))
    _job(db, "payments.reconcile")  # due now: not late yet
    run(parts, "jobs.queue_lag")
    finding = findings(db, "jobs.queue_lag")["default"]
    assert finding.details["overdue_jobs"] == 1
    assert finding.details["oldest_waited_seconds"] >= 600
    expect_cycle(
        parts, "jobs.queue_lag", "default",
        fix=lambda: _set_job(db, late, state="succeeded"),
        again=lambda: _set_job(db, late, state="queued"),
    )  # fmt: skip


def _heartbeat(
    db: Database, worker_id: str, *, seen_ago: timedelta, state: str = "running"
) -> None:
    now = utcnow()
    with db.transaction() as session:
        row = session.get(WorkerHeartbeat, worker_id)
        if row is None:
            row = WorkerHeartbeat(
                id=worker_id, host="h1", pid=42, queues="default", concurrency=4,
                state=state, started_at=now - timedelta(hours=1), last_seen_at=now,
            )  # fmt: skip
            session.add(row)
        row.state, row.last_seen_at = state, now - seen_ago


def test_a_silent_worker_is_gone_and_no_live_worker_is_critical(db: Database) -> None:
    parts = make_parts(db)
    run(parts, "jobs.no_worker")
    assert states(db, "jobs.no_worker") == {"workers": "open"}
    assert findings(db, "jobs.no_worker")["workers"].severity == "critical"
    _heartbeat(db, "w-live", seen_ago=timedelta(seconds=5))
    run(parts, "jobs.no_worker")
    assert states(db, "jobs.no_worker") == {"workers": "resolved"}

    _heartbeat(db, "w-gone", seen_ago=timedelta(minutes=10))
    expect_cycle(
        parts, "jobs.worker_gone", "w-gone",
        fix=lambda: _heartbeat(db, "w-gone", seen_ago=timedelta(minutes=10), state="stopped"),
        again=lambda: _heartbeat(db, "w-gone", seen_ago=timedelta(minutes=10)),
    )  # fmt: skip
    assert findings(db, "jobs.worker_gone")["w-gone"].details["host"] == "h1"

    _heartbeat(db, "w-live", seen_ago=timedelta(minutes=10))
    run(parts, "jobs.no_worker")
    assert findings(db, "jobs.no_worker")["workers"].recurrences == 1


def test_a_schedule_slot_not_enqueued_is_missed(db: Database) -> None:
    parts = make_parts(db)
    enqueue_due(db, WORK.schedule_for(parts.settings))  # a worker ran the schedule once

    def stall() -> None:
        with db.transaction() as session:
            session.execute(
                update(JobSchedule)
                .where(JobSchedule.name == "payments.reconcile")
                .values(last_slot_at=utcnow() - timedelta(minutes=30))
            )

    stall()
    run(parts, "jobs.schedule_missed")
    finding = findings(db, "jobs.schedule_missed")["payments.reconcile"]
    assert finding.details["late_minutes"] >= 25
    assert set(states(db, "jobs.schedule_missed")) == {"payments.reconcile"}
    expect_cycle(
        parts, "jobs.schedule_missed", "payments.reconcile",
        fix=lambda: enqueue_due(db, WORK.schedule_for(parts.settings)), again=stall,
    )  # fmt: skip
