"""The queue table on SQLite and PostgreSQL: transactional enqueue, unique keys, claims
that two workers never share, backoff, dead ends, and rescue of a dead worker's jobs."""

from __future__ import annotations

import random
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, select

from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.jobs.queue import (
    LeaseWatch,
    backoff,
    claim,
    complete,
    enqueue,
    fail,
    release,
    renew_leases,
)
from tests.support.concurrency import race


class _Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def _job(db: Database, job_id: int) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _add(db: Database, kind: str = "noop", **options: object) -> int:
    with db.transaction() as session:
        job_id = enqueue(session, kind, {"n": 1}, **options)  # type: ignore[arg-type]
    assert job_id is not None
    return job_id


def test_a_job_lands_with_its_transaction_or_not_at_all(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        enqueue(session, "noop")
        raise RuntimeError("the change that needed the job failed")
    with db.read() as session:
        assert session.scalars(select(Job)).all() == []
    job = _job(db, _add(db))
    assert (job.state, job.attempts, job.payload) == ("queued", 0, {"n": 1})


def test_a_unique_key_adds_nothing_while_a_job_with_it_lives(db: Database) -> None:
    first = _add(db, unique_key="expire:2026-11-22T03:00")
    with db.transaction() as session:
        assert enqueue(session, "noop", unique_key="expire:2026-11-22T03:00") is None
        # ...and the rest of the transaction carries on.
        assert enqueue(session, "noop", unique_key="other") is not None
    (claimed,) = [c for c in claim(db, "w1") if c.id == first]
    assert complete(db, claimed)
    assert _add(db, unique_key="expire:2026-11-22T03:00") != first  # finished: allowed again


def test_claims_take_due_jobs_best_first_and_count_an_attempt(db: Database) -> None:
    now = utcnow()
    # Lower numbers first (0 is the default); then the longest due.
    low = _add(db, priority=5, run_at=now - timedelta(minutes=2))
    high = _add(db, priority=-5, run_at=now - timedelta(minutes=1))
    later = _add(db, priority=-9, run_at=now + timedelta(hours=1))
    other_queue = _add(db, queue="bulk")
    claimed = claim(db, "w1", limit=10, now=now)
    assert [c.id for c in claimed] == [high, low]
    assert all(c.attempts == 1 for c in claimed)
    job = _job(db, high)
    assert (job.state, job.lease_owner) == ("running", "w1")
    assert job.lease_expires_at is not None
    assert job.lease_expires_at > now
    assert _job(db, later).state == "queued"
    assert [c.id for c in claim(db, "w2", queues=["bulk"])] == [other_queue]


def test_two_workers_never_hold_one_job(db: Database) -> None:
    jobs = 120
    with db.transaction() as session:
        for n in range(jobs):
            enqueue(session, "noop", {"n": n})
    taken: dict[str, list[int]] = {f"w{i}": [] for i in range(6)}

    def work(worker: str) -> None:
        while batch := claim(db, worker, limit=5):
            taken[worker].extend(job.id for job in batch)

    race(*(partial(work, worker) for worker in taken), timeout=120)
    every = [job_id for ids in taken.values() for job_id in ids]
    assert len(every) == jobs
    assert len(set(every)) == jobs
    with db.read() as session:
        owners = {job.id: job.lease_owner for job in session.scalars(select(Job))}
    assert all(owners[job_id] == worker for worker, ids in taken.items() for job_id in ids)


def test_a_claim_takes_no_more_than_its_limit(db: Database) -> None:
    """PostgreSQL may run a locking sub-select inside `IN (...)` again per row, each time
    finding rows the previous run did not lock: a claim of 3 once took 4."""
    for _ in range(7):
        _add(db)
    assert [len(claim(db, "w1", limit=3)) for _ in range(4)] == [3, 3, 1, 0]


def test_failures_back_off_then_end_dead(db: Database) -> None:
    job_id = _add(db, max_attempts=3)
    rng = random.Random(7)
    now = utcnow()
    waits = []
    for attempt in (1, 2):
        (claimed,) = claim(db, "w1", now=now)
        assert claimed.attempts == attempt
        assert fail(db, claimed, f"boom {attempt}", now=now, rng=rng) == "queued"
        job = _job(db, job_id)
        waits.append(job.run_at - now)
        assert claim(db, "w1", now=now) == []  # not due yet
        now = job.run_at
    assert timedelta(seconds=1) <= waits[0] <= timedelta(seconds=2)
    assert timedelta(seconds=2) <= waits[1] <= timedelta(seconds=4)
    (claimed,) = claim(db, "w1", now=now)
    assert fail(db, claimed, "boom 3", now=now) == "dead"
    job = _job(db, job_id)
    assert (job.state, job.last_error, job.attempts) == ("dead", "boom 3", 3)
    assert claim(db, "w1", now=now + timedelta(days=1)) == []


def test_backoff_grows_is_jittered_and_capped() -> None:
    rng = random.Random(1)
    samples = [backoff(attempt, rng) for attempt in range(1, 30)]
    assert samples[0] <= timedelta(seconds=2)
    assert samples[5] > samples[0]
    assert max(samples) <= timedelta(hours=1)
    assert len({backoff(4, random.Random(seed)) for seed in range(10)}) > 1


def test_a_dead_workers_job_returns_and_its_late_finish_is_refused(db: Database) -> None:
    job_id = _add(db, max_attempts=2)
    now, mono = utcnow(), _Monotonic()
    watch = LeaseWatch(timedelta(seconds=30), clock=mono)
    (crashed,) = claim(db, "crashed", lease=timedelta(seconds=30), now=now)
    assert watch.rescue(db) == 0  # first sight of the lease
    mono.seconds += 20
    assert watch.rescue(db) == 0  # not still for a whole lease yet
    renewed = renew_leases(db, [crashed], timedelta(seconds=30), now=now + timedelta(seconds=20))
    assert renewed == {job_id}
    mono.seconds += 20
    assert watch.rescue(db) == 0  # 40 s since claimed, but renewed 20 s ago
    mono.seconds += 29
    assert watch.rescue(db) == 0
    mono.seconds += 1
    assert watch.rescue(db) == 1  # a whole lease without a renewal
    job = _job(db, job_id)
    assert (job.state, job.attempts, job.lease_owner) == ("queued", 1, None)
    assert "was not renewed" in (job.last_error or "")
    (claimed,) = claim(db, "healthy", now=now + timedelta(seconds=61))
    assert claimed.attempts == 2
    # The first worker wakes up: it may not finish or fail a job it no longer holds.
    assert complete(db, crashed) is False
    assert fail(db, crashed, "late") is None
    assert renew_leases(db, [crashed], timedelta(seconds=30)) == set()
    assert complete(db, claimed) is True
    assert _job(db, job_id).state == "succeeded"


def test_a_wall_clock_jump_does_not_rescue_a_lease_that_is_renewed(db: Database) -> None:
    """Leases are judged on the watcher's monotonic clock, never by comparing the holder's
    renewal time with the watcher's wall clock: a watcher whose clock leaps a day ahead
    (or a holder whose clock lags a day behind) takes nothing that is still alive."""
    now, mono = utcnow(), _Monotonic()
    job_id = _add(db, run_at=now - timedelta(days=2))
    watch = LeaseWatch(timedelta(seconds=30), clock=mono)
    (held,) = claim(db, "behind", lease=timedelta(seconds=30), now=now - timedelta(days=1))
    for beat in range(1, 10):
        assert watch.rescue(db, now=now + timedelta(days=1)) == 0
        mono.seconds += 10
        renewed_to = now - timedelta(days=1) + timedelta(seconds=10 * beat + 30)
        assert renew_leases(db, [held], timedelta(0), now=renewed_to) == {job_id}
    assert _job(db, job_id).state == "running"
    assert complete(db, held) is True


def test_a_renewal_between_the_look_and_the_lock_keeps_the_lease(
    backend: str, db: Database
) -> None:
    """The watcher looks without locking, then locks the rows it found standing still: a
    holder that renews in between keeps its job."""
    if backend != "postgresql":
        pytest.skip("SQLite's write lock keeps the holder out between the look and the lock")
    job_id = _add(db)
    mono = _Monotonic()
    watch = LeaseWatch(timedelta(seconds=30), clock=mono)
    (held,) = claim(db, "alive")
    watch.rescue(db)
    mono.seconds += 30
    renewals: list[set[int]] = []

    def renew_before_the_lock(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FOR UPDATE" in statement and not renewals:
            renewals.append(renew_leases(db, [held], timedelta(seconds=30)))

    event.listen(db.engine, "before_cursor_execute", renew_before_the_lock)
    try:
        assert watch.rescue(db) == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", renew_before_the_lock)
    assert renewals == [{job_id}]
    assert _job(db, job_id).state == "running"
    assert complete(db, held) is True


def test_a_lease_is_one_attempt_even_for_the_same_worker(db: Database) -> None:
    """A worker whose job was rescued and then claimed again by that same worker holds
    the new attempt only: the old attempt's late finish is refused."""
    job_id = _add(db, max_attempts=3)
    now, mono = utcnow(), _Monotonic()
    watch = LeaseWatch(timedelta(seconds=5), clock=mono)
    (first,) = claim(db, "w1", lease=timedelta(seconds=5), now=now)
    watch.rescue(db)
    mono.seconds += 6
    assert watch.rescue(db) == 1
    (second,) = claim(db, "w1", now=now + timedelta(seconds=7))
    assert (first.id, first.worker) == (second.id, second.worker) == (job_id, "w1")
    assert complete(db, first) is False
    assert complete(db, second) is True


def test_release_gives_jobs_back_without_using_an_attempt(db: Database) -> None:
    job_id = _add(db, max_attempts=1)
    (claimed,) = claim(db, "stopping")
    assert release(db, [claimed], "released: worker stopped") == 1
    job = _job(db, job_id)
    assert (job.state, job.attempts, job.lease_owner) == ("queued", 0, None)
    assert job.last_error == "released: worker stopped"
    (again,) = claim(db, "other")
    assert complete(db, again)
    assert release(db, [claimed], "too late") == 0


def test_a_job_rescued_after_its_last_attempt_is_dead(db: Database) -> None:
    job_id = _add(db, max_attempts=1)
    mono = _Monotonic()
    watch = LeaseWatch(timedelta(seconds=5), clock=mono)
    claim(db, "crashed", lease=timedelta(seconds=5))
    watch.rescue(db)
    mono.seconds += 5
    assert watch.rescue(db) == 1
    assert _job(db, job_id).state == "dead"
