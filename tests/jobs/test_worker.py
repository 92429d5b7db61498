"""The worker on SQLite and PostgreSQL: it runs what is due, records heartbeats, fails
what overruns its timeout, stops when a job hangs, and never lets two workers hold one job.
Processes killed with SIGKILL and drained with SIGTERM are in test_worker_processes.py."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.queue import enqueue
from darvaza.jobs.registry import JobContext, JobKind, Registry
from darvaza.jobs.worker import EXIT_HUNG, Worker, WorkerConfig
from tests.support.jobs import job_states, parts, wait_for, worker_thread
from tests.support.tcp_proxy import TcpProxy

FAST = WorkerConfig(concurrency=4, poll_seconds=0.05, shutdown_grace_seconds=5)


def _enqueue(db: Database, kind: str, count: int = 1, **payload: object) -> list[int]:
    with db.transaction() as session:
        ids = [enqueue(session, kind, {"n": n, **payload}) for n in range(count)]
    return [job_id for job_id in ids if job_id is not None]


def _job(db: Database, job_id: int) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_a_worker_runs_due_jobs_and_reports_its_heartbeat(db: Database) -> None:
    ran: list[int] = []
    registry = Registry([JobKind("test.note", lambda _ctx, p: ran.append(p["n"]))])
    ids = _enqueue(db, "test.note", 25)
    with worker_thread(db, registry, FAST) as worker:
        wait_for(lambda: set(job_states(db).values()) == {"succeeded"})
        worker.beat()
        with db.read() as session:
            beat = session.get(WorkerHeartbeat, worker.id)
            assert beat is not None
            assert (beat.state, beat.jobs_succeeded, beat.concurrency) == ("running", 25, 4)
    assert sorted(ran) == list(range(25))
    with db.read() as session:
        beat = session.get(WorkerHeartbeat, worker.id)
        assert beat is not None
        assert beat.state == "stopped"
        jobs = session.scalars(select(Job).where(Job.id.in_(ids))).all()
    assert all(j.attempts == 1 and j.started_at and j.finished_at for j in jobs)


def test_a_failing_job_is_retried_until_it_succeeds(db: Database) -> None:
    calls: Counter[int] = Counter()

    def flaky(ctx: JobContext, _payload: dict[str, Any]) -> None:
        calls[ctx.job.id] += 1
        if calls[ctx.job.id] < 2:
            raise RuntimeError("first try fails")

    (job_id,) = _enqueue(db, "test.flaky")
    with worker_thread(db, Registry([JobKind("test.flaky", flaky)]), FAST):
        # The retry waits out its backoff (1-2 s for the first).
        wait_for(lambda: _job(db, job_id).state == "succeeded", timeout=30)
    job = _job(db, job_id)
    assert (job.attempts, calls[job_id]) == (2, 2)
    assert "first try fails" in (job.last_error or "")


def test_a_job_past_its_timeout_fails(db: Database) -> None:
    """A handler that overruns is told to stop; when it returns, the attempt is a failure."""
    stopped: list[bool] = []

    def slow(ctx: JobContext, _payload: dict[str, Any]) -> None:
        deadline = time.monotonic() + 10
        while not ctx.should_stop() and time.monotonic() < deadline:
            time.sleep(0.02)
        stopped.append(ctx.should_stop())

    registry = Registry([JobKind("test.slow", slow, timeout=timedelta(seconds=0.3))])
    (job_id,) = _enqueue(db, "test.slow")
    with worker_thread(db, registry, FAST):
        wait_for(lambda: _job(db, job_id).attempts == 1 and _job(db, job_id).state == "queued")
    job = _job(db, job_id)
    assert stopped == [True]
    assert "timed out after 0.3s" in (job.last_error or "")


def test_a_job_that_ignores_its_timeout_stops_the_worker(db: Database) -> None:
    """Python cannot kill a thread: the worker finishes the others, fails the hung job
    (it never ran twice: its lease was held to the end) and exits for a restart."""
    release = threading.Event()
    ran: list[int] = []

    def hang(_ctx: JobContext, _payload: dict[str, Any]) -> None:
        release.wait(30)

    registry = Registry(
        [
            JobKind("test.hang", hang, timeout=timedelta(seconds=0.2)),
            JobKind("test.note", lambda _ctx, p: ran.append(p["n"])),
        ]
    )
    (hung_id,) = _enqueue(db, "test.hang")
    worker = Worker(
        parts(db),
        registry,
        WorkerConfig(concurrency=2, poll_seconds=0.05, hung_grace=timedelta(seconds=0.5)),
    )
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run()), daemon=True)
    thread.start()
    wait_for(lambda: _job(db, hung_id).state == "running")
    _enqueue(db, "test.note", 3)
    thread.join(30)
    release.set()
    assert outcome == [EXIT_HUNG]
    job = _job(db, hung_id)
    assert job.state == "queued"  # failed, with a retry scheduled
    assert "did not stop" in (job.last_error or "")
    assert job.lease_owner is None


def test_two_workers_never_hold_one_job(db: Database) -> None:
    running: set[int] = set()
    ran: Counter[int] = Counter()
    overlaps: list[int] = []
    lock = threading.Lock()

    def track(ctx: JobContext, _payload: dict[str, Any]) -> None:
        with lock:
            if ctx.job.id in running:
                overlaps.append(ctx.job.id)
            running.add(ctx.job.id)
            ran[ctx.job.id] += 1
        time.sleep(0.002)
        with lock:
            running.discard(ctx.job.id)

    registry = Registry([JobKind("test.track", track)])
    ids = _enqueue(db, "test.track", 300)
    with worker_thread(db, registry, FAST), worker_thread(db, registry, FAST):
        wait_for(lambda: set(job_states(db).values()) == {"succeeded"}, timeout=60)
    assert overlaps == []
    assert sorted(ran) == sorted(ids)
    assert set(ran.values()) == {1}
    with db.read() as session:
        owners = session.scalars(select(WorkerHeartbeat.jobs_succeeded)).all()
    assert sum(owners) == 300
    assert len(owners) == 2


def test_a_handler_calling_sys_exit_fails_its_job_and_the_worker_goes_on(db: Database) -> None:
    ran: list[int] = []

    def leave(_ctx: JobContext, _payload: dict[str, Any]) -> None:
        sys.exit(1)

    registry = Registry(
        [JobKind("test.exit", leave), JobKind("test.note", lambda _ctx, p: ran.append(p["n"]))]
    )
    (leaving,) = _enqueue(db, "test.exit")
    with worker_thread(db, registry, WorkerConfig(concurrency=1, poll_seconds=0.05)):
        wait_for(lambda: _job(db, leaving).attempts == 1 and _job(db, leaving).state == "queued")
        _enqueue(db, "test.note", 2)
        wait_for(lambda: len(ran) == 2)  # its only thread is still there
    assert "SystemExit" in (_job(db, leaving).last_error or "")


def test_an_unknown_kind_ends_dead_and_the_worker_goes_on(db: Database) -> None:
    ran: list[int] = []
    registry = Registry([JobKind("test.note", lambda _ctx, p: ran.append(p["n"]))])
    (unknown,) = _enqueue(db, "test.nobody")
    _enqueue(db, "test.note", 2)
    with worker_thread(db, registry, FAST):
        wait_for(lambda: len(ran) == 2 and _job(db, unknown).state == "dead")
    assert "unknown job kind" in (_job(db, unknown).last_error or "")


def test_a_database_that_drops_mid_job_loses_nothing(
    backend: str, db: Database, database_url: str
) -> None:
    """PostgreSQL behind a proxy the test cuts while two jobs run: the finished one is
    written once the database is back (not run again); the one whose own database work
    failed is retried (its failure could not be written, so its lease runs out)."""
    if backend != "postgresql":
        pytest.skip("an outage needs a database on the network")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = Database(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        connect_timeout_seconds=2,
    )
    go = threading.Event()
    runs: Counter[str] = Counter()

    def wait(_ctx: JobContext, _payload: dict[str, Any]) -> None:
        runs["wait"] += 1
        go.wait(30)

    def touch(ctx: JobContext, _payload: dict[str, Any]) -> None:
        runs["touch"] += 1
        go.wait(30)
        ctx.db.ping()  # fails while the database is away

    registry = Registry([JobKind("test.wait", wait), JobKind("test.touch", touch)])
    (waiting,) = _enqueue(db, "test.wait")
    (touching,) = _enqueue(db, "test.touch")
    config = WorkerConfig(concurrency=2, poll_seconds=0.05, lease=timedelta(seconds=6))
    worker = Worker(parts(proxied), registry, config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: {_job(db, waiting).state, _job(db, touching).state} == {"running"})
        proxy.cut()
        go.set()
        time.sleep(1.5)
        assert _job(db, waiting).state == "running"  # finished, but nothing can be written
        proxy.restore()
        wait_for(lambda: {_job(db, waiting).state, _job(db, touching).state} == {"succeeded"})
    finally:
        worker.stop()
        thread.join(30)
        proxy.close()
        proxied.dispose()
    assert (_job(db, waiting).attempts, runs["wait"]) == (1, 1)
    assert (_job(db, touching).attempts, runs["touch"]) == (2, 2)
