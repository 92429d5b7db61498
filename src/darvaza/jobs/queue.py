"""The queue's operations: enqueue in the caller's transaction, claim atomically, finish,
retry with backoff, and rescue the jobs of workers that died.

Claiming is one UPDATE over a sub-select of due jobs: on PostgreSQL the sub-select takes
`FOR UPDATE SKIP LOCKED`, so workers never wait on each other's rows and never take the
same one; on SQLite the write transaction (`BEGIN IMMEDIATE`) makes the claim atomic.
Every finishing step names the worker that holds the lease, so a worker that lost its lease
(it was too slow, and the job was rescued) cannot finish a job someone else now runs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from darvaza.clock import utcnow
from darvaza.db import Database, flush_unique
from darvaza.jobs.models import Job

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(hours=1)


class _Duplicate(Exception):
    pass


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    queue: str = "default",
    priority: int = 0,
    run_at: datetime | None = None,
    max_attempts: int = 5,
    unique_key: str | None = None,
) -> int | None:
    """Add a job inside the caller's transaction: if the caller rolls back, the job never
    existed. With `unique_key`, a job already queued or running under that key wins and
    this returns None."""
    now = utcnow()
    job = Job(
        kind=kind,
        queue=queue,
        payload=payload or {},
        priority=priority,
        state="queued",
        attempts=0,
        max_attempts=max_attempts,
        run_at=run_at or now,
        unique_key=unique_key,
        created_at=now,
        updated_at=now,
    )
    try:
        flush_unique(session, lambda: session.add(job), _Duplicate())
    except _Duplicate:
        return None
    return job.id


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def claim(
    db: Database,
    worker: str,
    *,
    limit: int = 10,
    lease: timedelta = timedelta(seconds=30),
    queues: Sequence[str] = ("default",),
    now: datetime | None = None,
) -> list[Claimed]:
    """Take up to `limit` due jobs, best first (priority, then due time), counting an
    attempt and holding a lease on each."""
    now = now or utcnow()
    with db.transaction() as session:
        due = (
            select(Job.id)
            .where(Job.state == "queued", Job.queue.in_(list(queues)), Job.run_at <= now)
            .order_by(Job.priority.desc(), Job.run_at, Job.id)
            .limit(limit)
        )
        if db.backend == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = session.execute(
            update(Job)
            .where(Job.id.in_(due.scalar_subquery()), Job.state == "queued")
            .values(
                state="running",
                lease_owner=worker,
                lease_expires_at=now + lease,
                attempts=Job.attempts + 1,
                updated_at=now,
            )
            .returning(
                Job.id,
                Job.kind,
                Job.payload,
                Job.attempts,
                Job.max_attempts,
                Job.priority,
                Job.run_at,
            )
            .execution_options(synchronize_session=False)
        ).all()
    ordered = sorted(rows, key=lambda row: (-row.priority, row.run_at, row.id))
    return [Claimed(r.id, r.kind, r.payload, r.attempts, r.max_attempts) for r in ordered]


def _held(job_id: int, worker: str) -> Any:
    return (Job.id == job_id, Job.state == "running", Job.lease_owner == worker)


def complete(db: Database, job_id: int, worker: str, *, now: datetime | None = None) -> bool:
    """Mark a job succeeded. False if the worker no longer holds its lease."""
    now = now or utcnow()
    with db.transaction() as session:
        done = session.execute(
            update(Job)
            .where(*_held(job_id, worker))
            .values(
                state="succeeded",
                finished_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    return bool(done)


def backoff(attempt: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with "equal jitter": half the delay fixed, half random, so a
    crowd of failed jobs does not come back all at once."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    fraction: float = (rng or random.SystemRandom()).random()
    jittered: timedelta = delay / 2 + delay / 2 * fraction
    return jittered


def fail_for_good(db: Database, job_id: int, worker: str, error: str) -> str | None:
    """End a job `dead` at once: retrying cannot help (an unknown kind, a bad payload)."""
    return fail(db, job_id, worker, error, final=True)


def fail(
    db: Database,
    job_id: int,
    worker: str,
    error: str,
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
    final: bool = False,
) -> str | None:
    """Record a failed attempt: retry later with backoff, or `dead` after the last one.
    Returns the new state, or None if the worker no longer holds the lease."""
    now = now or utcnow()
    with db.transaction() as session:
        job = session.scalars(
            select(Job).where(*_held(job_id, worker)).with_for_update(of=Job)
        ).one_or_none()
        if job is None:
            return None
        job.last_error, job.updated_at = error[:20_000], now
        job.lease_owner, job.lease_expires_at = None, None
        if final or job.attempts >= job.max_attempts:
            job.state, job.finished_at = "dead", now
        else:
            job.state, job.run_at = "queued", now + backoff(job.attempts, rng)
        return job.state


def renew_leases(
    db: Database,
    job_ids: Sequence[int],
    worker: str,
    lease: timedelta,
    *,
    now: datetime | None = None,
) -> int:
    """The worker's heartbeat: push out the leases it still holds."""
    if not job_ids:
        return 0
    now = now or utcnow()
    with db.transaction() as session:
        return int(
            session.execute(
                update(Job)
                .where(Job.id.in_(list(job_ids)), Job.state == "running", Job.lease_owner == worker)
                .values(lease_expires_at=now + lease, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )


def rescue_expired(db: Database, *, now: datetime | None = None) -> int:
    """Jobs whose worker stopped renewing go back to the queue (the attempt they used is
    counted), or end `dead` if that was their last attempt."""
    now = now or utcnow()
    with db.transaction() as session:
        stale = session.scalars(
            select(Job)
            .where(Job.state == "running", Job.lease_expires_at < now)
            .with_for_update(of=Job, skip_locked=True)
        ).all()
        for job in stale:
            job.last_error = f"lease held by {job.lease_owner} expired: the worker stopped"
            job.lease_owner, job.lease_expires_at, job.updated_at = None, None, now
            if job.attempts >= job.max_attempts:
                job.state, job.finished_at = "dead", now
            else:
                job.state, job.run_at = "queued", now
        return len(stale)
