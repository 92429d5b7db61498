"""Workers on PostgreSQL wake when a job becomes due (LISTEN/NOTIFY) instead of at their next
poll, and their listener comes back after its connection is lost."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text

from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim, enqueue, enqueue_many, release
from darvaza.jobs.registry import JobKind, Registry
from darvaza.jobs.wakeups import CHANNEL
from darvaza.jobs.worker import WorkerConfig
from tests.support.jobs import wait_for, worker_thread

# Polls so rarely that a job started within seconds can only have been woken by a notice.
SLEEPY = WorkerConfig(concurrency=2, poll_seconds=60, shutdown_grace_seconds=5)
# Started well before the poll would have found it: only a wakeup does that. The bound is
# loose on purpose, so that a loaded CI machine cannot fail the test by being slow.
WOKEN = SLEEPY.poll_seconds / 4


@pytest.fixture(autouse=True)
def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no notices: its workers poll")


def _listeners(db: Database) -> list[int]:
    with db.read() as session:
        return list(
            session.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query = 'LISTEN darvaza_jobs'"
                )
            )
        )


def _seconds_to_start(db: Database, job_id: int) -> float:
    def started() -> bool:
        with db.read() as session:
            job = session.get(Job, job_id)
            return job is not None and job.state == "succeeded"

    wait_for(started, timeout=10)
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.started_at is not None
        return (job.started_at - job.run_at).total_seconds()


def _enqueue(db: Database, **options: object) -> int:
    with db.transaction() as session:
        job_id = enqueue(session, "test.ok", {}, **options)  # type: ignore[arg-type]
    assert job_id is not None
    return job_id


REGISTRY = Registry([JobKind("test.ok", lambda _ctx, _payload: None)])


def test_a_job_enqueued_while_the_worker_sleeps_starts_at_once(db: Database) -> None:
    with worker_thread(db, REGISTRY, SLEEPY):
        wait_for(lambda: len(_listeners(db)) == 1)
        time.sleep(0.3)  # the worker has claimed what there was and sleeps for a minute
        assert _seconds_to_start(db, _enqueue(db)) < WOKEN
        with db.transaction() as session:
            (batched,) = enqueue_many(session, "test.ok", [{}])
        assert _seconds_to_start(db, batched) < WOKEN


def test_a_job_for_later_sends_no_notice_and_another_queue_s_is_not_the_worker_s(
    db: Database,
) -> None:
    """Counted, not timed: notices arrive in commit order, so once the due job's notice is
    in, every notice the two before it sent is in too. The later job sent none; the other
    queue's names that queue, which a worker of `default` does not listen for."""
    listening = psycopg.connect(db.url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://"), autocommit=True)  # fmt: skip
    with listening:
        listening.execute(f"LISTEN {CHANNEL}")
        later = _enqueue(db, run_at=utcnow() + timedelta(minutes=5))
        _enqueue(db, queue="elsewhere")
        _enqueue(db)
        payloads: list[str] = []
        for notice in listening.notifies(timeout=30):
            payloads.append(notice.payload)
            if notice.payload == "default":
                break
    assert payloads == ["elsewhere", "default"]
    assert "elsewhere" not in SLEEPY.queues
    with db.read() as session:
        job = session.get(Job, later)
        assert job is not None
        assert job.state == "queued"


def test_jobs_given_back_wake_the_other_workers(db: Database) -> None:
    job_id = _enqueue(db)
    (held,) = claim(db, "stopping-worker")
    with worker_thread(db, REGISTRY, SLEEPY):
        wait_for(lambda: len(_listeners(db)) == 1)
        time.sleep(0.3)
        assert release(db, [held], "released: worker stopped") == 1
        assert _seconds_to_start(db, job_id) < WOKEN


def test_the_listener_comes_back_after_its_connection_is_killed(db: Database) -> None:
    with worker_thread(db, REGISTRY, SLEEPY):
        wait_for(lambda: len(_listeners(db)) == 1)
        (first,) = _listeners(db)
        with db.transaction() as session:
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        wait_for(lambda: _listeners(db) not in ([], [first]), timeout=15)
        time.sleep(0.3)
        assert _seconds_to_start(db, _enqueue(db)) < WOKEN
