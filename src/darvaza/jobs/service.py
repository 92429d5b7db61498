"""Operating the queue: list jobs and workers, retry or cancel a job (audited), prune
finished jobs, and the figures metrics and readiness read."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database, changed_rows, flush_unique, lock_row
from darvaza.errors import Conflict, NotFound
from darvaza.jobs.models import Job, WorkerHeartbeat

# `enqueue` is part of the face: other domains queue work inside their own transaction.
from darvaza.jobs.queue import enqueue as enqueue  # noqa: PLC0414 (an explicit re-export)
from darvaza.jobs.queue import move_job
from darvaza.jobs.registry import Work
from darvaza.jobs.wakeups import notify_due
from darvaza.paging import MAX_PAGE, Page, check_range, page_of
from darvaza.parts import Parts
from darvaza.security.caller import Actor

FINISHED = ("succeeded", "dead", "cancelled")


@dataclass(frozen=True)
class JobFilter:
    state: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # the cursor: jobs older than this one
    limit: int = 50


def list_jobs(db: Database, filters: JobFilter) -> Page[Job]:
    """Newest first, by id; `before_id` pages on."""
    check_range(filters.since, filters.until)
    limit = min(filters.limit, MAX_PAGE)
    query = select(Job).order_by(Job.id.desc()).limit(limit + 1)
    if filters.state is not None:
        query = query.where(Job.state == filters.state)
    if filters.kind is not None:
        query = query.where(Job.kind == filters.kind)
    if filters.since is not None:
        query = query.where(Job.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Job.created_at < filters.until)
    if filters.before_id is not None:
        query = query.where(Job.id < filters.before_id)
    with db.read() as session:
        return page_of(session.scalars(query).all(), limit, lambda job: str(job.id))


def get_job(db: Database, job_id: int) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound("No such job.")
        return job


def _lock_job(session: Session, job_id: int) -> Job:
    return lock_row(session, Job, Job.id == job_id, missing="No such job.")


def retry_job(db: Database, actor: Actor, job_id: int, *, reason: str | None = None) -> Job:
    """Run a dead or cancelled job again now (one more attempt if it had used them all),
    or bring a job waiting for its retry forward. Running and succeeded jobs are refused."""
    with db.transaction() as session:
        job = _lock_job(session, job_id)
        if job.state in ("running", "succeeded"):
            raise Conflict(
                f"The job is {job.state}; only a dead, cancelled or queued job can be retried.",
                code="job_not_retryable",
            )
        was, now = job.state, utcnow()

        def requeue() -> None:
            if job.state == "queued":  # one waiting for its retry is only brought forward
                job.run_at, job.updated_at = now, now
            else:
                move_job(job, "queued", now, run_at=now)
            job.max_attempts = max(job.max_attempts, job.attempts + 1)

        taken = Conflict(
            "Another job with the same unique key is queued or running.", code="job_duplicate"
        )
        flush_unique(session, requeue, taken)
        notify_due(session, job.queue)
        _audit(session, actor, "job.retried", job, was, reason)
        return job


def cancel_job(db: Database, actor: Actor, job_id: int, *, reason: str | None = None) -> Job:
    """Cancel a queued job (waiting to run or to retry). A running job cannot be stopped
    safely from outside, so it is refused."""
    with db.transaction() as session:
        job = _lock_job(session, job_id)
        if job.state != "queued":
            raise Conflict(
                f"The job is {job.state}; only a queued job can be cancelled.",
                code="job_not_cancellable",
            )
        now = utcnow()
        move_job(job, "cancelled", now)
        _audit(session, actor, "job.cancelled", job, "queued", reason)
        return job


def _audit(
    session: Session, actor: Actor, action: str, job: Job, was: str, reason: str | None
) -> None:
    append_event(
        session,
        action=action,
        actor=actor,
        target_type="job",
        target_id=str(job.id),
        reason=reason,
        data={"kind": job.kind, "was": was, "attempts": job.attempts},
    )


def upkeep_kinds(parts: Parts) -> tuple[str, ...]:
    """The kinds an operator may run all at once, as the composition root collected them."""
    return parts.get(Work).upkeep


def enqueue_ops(db: Database, actor: Actor, kinds: Sequence[str]) -> dict[str, int | None]:
    """Enqueue each of these kinds now, once: a kind already queued or running this way
    adds nothing (None)."""
    with db.transaction() as session:
        added = {
            kind: enqueue(session, kind, {}, max_attempts=3, unique_key=f"ops:{kind}")
            for kind in kinds
        }
        append_event(session, action="jobs.ops_enqueued", actor=actor, data={"jobs": added})
        return added


def prune_finished(db: Database, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete finished jobs, and workers stopped or gone, older than `older_than`."""
    cutoff = (now or utcnow()) - older_than
    with db.transaction() as session:
        jobs = changed_rows(
            session, delete(Job).where(Job.state.in_(FINISHED), Job.finished_at < cutoff)
        )
        changed_rows(session, delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen_at < cutoff))
        return jobs


@dataclass(frozen=True)
class WorkerView:
    worker: WorkerHeartbeat
    gone: bool  # not stopped, yet silent for longer than the stale setting


def list_workers(
    db: Database, *, stale_after: timedelta, include_stopped: bool = False
) -> list[WorkerView]:
    now = utcnow()
    query = select(WorkerHeartbeat).order_by(WorkerHeartbeat.started_at.desc())
    if not include_stopped:
        query = query.where(WorkerHeartbeat.state != "stopped")
    with db.read() as session:
        rows = session.scalars(query).all()
    return [
        WorkerView(row, row.state != "stopped" and row.last_seen_at < now - stale_after)
        for row in rows
    ]


def count_workers(db: Database, *, stale_after: timedelta) -> tuple[int, int]:
    """Workers not stopped: (live, gone)."""
    views = list_workers(db, stale_after=stale_after)
    gone = sum(view.gone for view in views)
    return len(views) - gone, gone


class WorkerMissing(Exception):
    """No live worker where one must run; the message is safe to show in the probe."""


def describe_workers(db: Database, *, stale_after: timedelta, required: bool) -> str:
    """For the readiness probe. Where a worker is `required` (outside `local`), none live
    is a failure: payments whose callback never came are verified only by the worker, and
    IDPay refunds what is not verified within ten minutes. In `local` it is reported."""
    live, gone = count_workers(db, stale_after=stale_after)
    detail = "no worker running" if live + gone == 0 else f"{live} live, {gone} gone"
    if required and live == 0:
        raise WorkerMissing(f"{detail}: start `darvaza worker` (see docs/runbooks/worker-gone.md)")
    return detail


@dataclass(frozen=True)
class QueueStats:
    by_state_and_kind: dict[tuple[str, str], int]
    oldest_due_seconds: float  # queue lag: how long the oldest due job has waited
    workers_live: int
    workers_gone: int


def queue_stats(db: Database, *, stale_after: timedelta) -> QueueStats:
    now = utcnow()
    with db.read() as session:
        counts = session.execute(
            select(Job.state, Job.kind, func.count()).group_by(Job.state, Job.kind)
        ).all()
        oldest = session.scalar(
            select(func.min(Job.run_at)).where(Job.state == "queued", Job.run_at <= now)
        )
    live, gone = count_workers(db, stale_after=stale_after)
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    return QueueStats({(state, kind): n for state, kind, n in counts}, max(0.0, lag), live, gone)


def queue_depth_by_hour(db: Database, *, hours: int) -> list[tuple[datetime, int]]:
    """For each of the last `hours` hours (oldest first), how many jobs were waiting at
    its start: made, due, and not yet started (a job started again after a failure counts
    from its new `run_at`). A glance at how far the workers kept up, not an exact replay."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    marks = [now - timedelta(hours=hours - 1 - n) for n in range(hours)]
    with db.read() as session:
        rows = session.execute(
            select(Job.run_at, Job.started_at, Job.finished_at, Job.state)
            .where(
                Job.run_at <= now,
                (Job.started_at.is_(None)) | (Job.started_at >= marks[0]),
            )
            .limit(200_000)
        ).all()
    # Each job waited from `run_at` until it started (or was cancelled): count, at each
    # mark, the waits begun minus the waits over.
    begun, over = [], []
    for run_at, started_at, finished_at, state in rows:
        start = _aware(run_at)
        end = started_at or (finished_at if state == "cancelled" else None)
        if end is not None and _aware(end) <= start:
            continue
        begun.append(start)
        if end is not None:
            over.append(_aware(end))
    begun.sort()
    over.sort()
    return [(mark, bisect_right(begun, mark) - bisect_right(over, mark)) for mark in marks]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
