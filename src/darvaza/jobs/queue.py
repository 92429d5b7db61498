"""The queue's operations: enqueue in the caller's transaction, claim atomically, finish,
retry with backoff, and rescue the jobs of workers that died.

Claiming is one UPDATE over a select of due jobs: on PostgreSQL the select takes
`FOR UPDATE SKIP LOCKED` in a materialised CTE, so workers never wait on each other's rows
and never take the same one; on SQLite the write transaction (`BEGIN IMMEDIATE`) makes
the claim atomic.
Every finishing step names the worker that holds the lease, so a worker that lost its lease
(it was too slow, and the job was rescued) cannot finish a job someone else now runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from darvaza.clock import utcnow
from darvaza.db import Database, changed_rows, flushed
from darvaza.jobs.models import ENDED, JOB, Job
from darvaza.jobs.wakeups import notify_due

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(hours=1)


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
    if unique_key is None:
        session.add(job)
        session.flush()  # for the id; no savepoint needed: nothing can clash
    elif not flushed(session, lambda: session.add(job)):
        return None
    if job.run_at <= now:
        notify_due(session, queue)
    return job.id


def enqueue_many(
    session: Session,
    kind: str,
    payloads: Sequence[dict[str, Any]],
    *,
    queue: str = "default",
    priority: int = 0,
    run_at: datetime | None = None,
    max_attempts: int = 5,
) -> list[int]:
    """Add many jobs of one kind in one statement, in the caller's transaction (no unique
    keys: use `enqueue` for those)."""
    if not payloads:
        return []
    now = utcnow()
    rows = [
        {
            "kind": kind,
            "queue": queue,
            "payload": payload,
            "priority": priority,
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_at": run_at or now,
            "created_at": now,
            "updated_at": now,
        }
        for payload in payloads
    ]
    ids = list(session.scalars(insert(Job).returning(Job.id, sort_by_parameter_order=True), rows))
    if run_at is None or run_at <= now:
        notify_due(session, queue)
    return ids


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds. The lease is (worker, attempt): a worker whose lease ran out
    and whose job was claimed again, even by itself, can no longer finish it."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    worker: str


def claim(
    db: Database,
    worker: str,
    *,
    limit: int = 10,
    lease: timedelta = timedelta(seconds=30),
    queues: Sequence[str] = ("default",),
    now: datetime | None = None,
) -> list[Claimed]:
    """Take up to `limit` due jobs, best first (lowest priority number, then longest due),
    counting an attempt and holding a lease on each."""
    return complete_and_claim(db, [], worker, limit=limit, lease=lease, queues=queues, now=now)[1]


def complete_and_claim(
    db: Database,
    done: Sequence[Claimed],
    worker: str,
    *,
    limit: int,
    lease: timedelta,
    queues: Sequence[str],
    now: datetime | None = None,
) -> tuple[int, list[Claimed]]:
    """Mark a worker's finished jobs succeeded and claim the next ones, in one transaction:
    with short jobs the round trips of a transaction are the cost, so a busy worker pays
    one per batch. Returns how many finished jobs it still held, and the claimed jobs."""
    now = now or utcnow()
    with db.transaction(durable=False) as session:
        completed = _complete(session, done, now) if done else 0
        if limit <= 0:
            return completed, []
        rows = session.execute(
            _claiming(db, worker, limit, lease, queues, now)
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
    ordered = sorted(rows, key=lambda row: (row.priority, row.run_at, row.id))
    claimed = [
        Claimed(r.id, r.kind, r.payload, r.attempts, r.max_attempts, worker) for r in ordered
    ]
    return completed, claimed


def _claiming(
    db: Database, worker: str, limit: int, lease: timedelta, queues: Sequence[str], now: datetime
) -> Any:
    due = (
        select(Job.id)
        .where(Job.state == "queued", Job.queue.in_(list(queues)), Job.run_at <= now)
        .order_by(Job.priority, Job.run_at, Job.id)
        .limit(limit)
    )
    claiming = update(Job).values(
        state="running",
        lease_owner=worker,
        lease_expires_at=now + lease,
        attempts=Job.attempts + 1,
        started_at=now,
        updated_at=now,
    )
    if db.backend == "postgresql":
        # A materialised CTE runs the locking sub-select once. Inside `IN (...)` PostgreSQL
        # may run it again per row, and each run, skipping rows just claimed, finds more:
        # a claim of 3 took 4.
        locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        return claiming.where(Job.id == locked.c.id)
    return claiming.where(Job.id.in_(due.scalar_subquery()), Job.state == "queued")


def _held(jobs: Sequence[Claimed]) -> Any:
    """The rows these leases still hold: running, same worker, same attempt."""
    workers = {job.worker for job in jobs}
    if len(workers) != 1:
        raise ValueError("leases of one worker at a time")
    return (
        Job.id.in_([job.id for job in jobs]),  # the primary key finds the rows
        Job.state == "running",
        Job.lease_owner == workers.pop(),
        tuple_(Job.id, Job.attempts).in_([(job.id, job.attempts) for job in jobs]),
    )


def complete(db: Database, job: Claimed, *, now: datetime | None = None) -> bool:
    """Mark a job succeeded. False if its worker no longer holds the lease."""
    return complete_many(db, [job], now=now) == 1


def complete_many(db: Database, jobs: Sequence[Claimed], *, now: datetime | None = None) -> int:
    """Mark several of one worker's jobs succeeded in one transaction. Returns how many it
    still held; the others were rescued meanwhile and belong to someone else."""
    if not jobs:
        return 0
    with db.transaction(durable=False) as session:
        return _complete(session, jobs, now or utcnow())


def _complete(session: Session, jobs: Sequence[Claimed], now: datetime) -> int:
    return changed_rows(
        session,
        update(Job)
        .where(*_held(jobs))
        .values(
            state="succeeded",
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        ),
    )


def backoff(attempt: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with "equal jitter": half the delay fixed, half random, so a
    crowd of failed jobs does not come back all at once."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    fraction: float = (rng or random.SystemRandom()).random()
    jittered: timedelta = delay / 2 + delay / 2 * fraction
    return jittered


def fail(
    db: Database,
    job: Claimed,
    error: str,
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
    final: bool = False,
) -> str | None:
    """Record a failed attempt: retry later with backoff, or `dead` after the last one
    (or at once with `final`, when retrying cannot help: an unknown kind, a bad payload).
    Returns the new state, or None if the worker no longer holds the lease."""
    now = now or utcnow()
    with db.transaction() as session:
        row = session.scalars(
            select(Job).where(*_held([job])).with_for_update(of=Job)
        ).one_or_none()
        if row is None:
            return None
        retry_at = None if final else now + backoff(row.attempts, rng)
        _end_attempt(row, error, now, retry_at)
        return row.state


def _end_attempt(job: Job, error: str, now: datetime, retry_at: datetime | None) -> None:
    """A failed attempt: the job goes back to the queue due at `retry_at`, or ends `dead`
    when that was its last attempt (or `retry_at` is None: retrying cannot help)."""
    job.last_error, job.updated_at = error[:20_000], now
    job.lease_owner, job.lease_expires_at = None, None
    if retry_at is None or job.attempts >= job.max_attempts:
        move_job(job, "dead", now)
    else:
        move_job(job, "queued", now, run_at=retry_at)


def move_job(job: Job, target: str, now: datetime, *, run_at: datetime | None = None) -> None:
    """The one way a job row changes state: checked against `JOB`, and stamped (a job
    that ends gets its `finished_at`; one queued again runs at `run_at`). The row is the
    job's own record; what an operator does to it is audited by `service.py`."""
    JOB.move(job, target)
    job.updated_at = now
    job.finished_at = now if target in ENDED else None
    if run_at is not None:
        job.run_at = run_at


def release(
    db: Database, jobs: Sequence[Claimed], reason: str, *, now: datetime | None = None
) -> int:
    """Give jobs back to the queue, due now, without counting the attempt: the worker is
    stopping (or never started them), which is not the job's fault."""
    if not jobs:
        return 0
    now = now or utcnow()
    with db.transaction() as session:
        queues = session.scalars(
            update(Job)
            .where(*_held(jobs))
            .values(
                state="queued",
                attempts=Job.attempts - 1,
                run_at=now,
                last_error=reason[:20_000],
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(Job.queue)
            .execution_options(synchronize_session=False)
        ).all()
        for queue in set(queues):
            notify_due(session, queue)
        return len(queues)


def renew_leases(
    db: Database, jobs: Sequence[Claimed], lease: timedelta, *, now: datetime | None = None
) -> set[int]:
    """The worker's heartbeat: push out the leases it still holds; the ids it renewed."""
    if not jobs:
        return set()
    now = now or utcnow()
    with db.transaction(durable=False) as session:
        return set(
            session.scalars(
                update(Job)
                .where(*_held(jobs))
                .values(lease_expires_at=now + lease, updated_at=now)
                .returning(Job.id)
                .execution_options(synchronize_session=False)
            )
        )


# A lease as a watcher sees it: holder, attempt, and the time it was last renewed to.
_LeaseToken = tuple[str | None, int, datetime | None]


class LeaseWatch:
    """Finds running jobs whose holder stopped renewing their lease, and gives them back.

    A lease is judged dead by what this process sees, on its own monotonic clock: the
    job's lease (holder, attempt, renewal time) has not changed for a whole lease period
    while this process watched it. Comparing the renewal time with this machine's wall
    clock instead would let a clock that jumps forward rescue jobs still running: they
    would run twice at once. The price is that a freshly started watcher waits one lease
    period before it rescues anything.
    """

    def __init__(self, lease: timedelta, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_seconds = lease.total_seconds()
        self._clock = clock
        # job id -> (the lease as last seen, when it was first seen like that)
        self._seen: dict[int, tuple[_LeaseToken, float]] = {}

    def rescue(self, db: Database, *, now: datetime | None = None) -> int:
        """Rescue the leases that stood still for a lease period: the job goes back to the
        queue (its attempt counted), or ends `dead` if that was its last attempt."""
        now, watched_at = now or utcnow(), self._clock()
        with db.transaction() as session:
            running = session.execute(
                select(Job.id, Job.lease_owner, Job.attempts, Job.lease_expires_at).where(
                    Job.state == "running"
                )
            ).all()
            seen: dict[int, tuple[_LeaseToken, float]] = {}
            stale: dict[int, _LeaseToken] = {}
            for row in running:
                token = (row.lease_owner, row.attempts, row.lease_expires_at)
                before = self._seen.get(row.id)
                since = before[1] if before is not None and before[0] == token else watched_at
                seen[row.id] = (token, since)
                if watched_at - since >= self.lease_seconds:
                    stale[row.id] = token
            self._seen = seen
            if not stale:
                return 0
            locked = session.scalars(
                select(Job)
                .where(Job.id.in_(list(stale)), Job.state == "running")
                .with_for_update(of=Job, skip_locked=True)
            ).all()
            rescued = 0
            for job in locked:
                # Renewed between the look and the lock: its holder is alive after all.
                if (job.lease_owner, job.attempts, job.lease_expires_at) != stale[job.id]:
                    continue
                error = f"lease held by {job.lease_owner} was not renewed: the worker stopped"
                _end_attempt(job, error, now, retry_at=now)
                self._seen.pop(job.id, None)
                if job.state == "queued":
                    notify_due(session, job.queue)
                rescued += 1
            return rescued
