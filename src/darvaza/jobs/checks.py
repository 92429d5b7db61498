"""The job engine's ops checks: work that died, work that waits, workers that went
silent or are missing, and schedule slots that never ran."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from darvaza.checks import Check, CheckContext, Observation, Subject, platform
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.errors import N_
from darvaza.jobs.models import Job, JobSchedule, WorkerHeartbeat
from darvaza.jobs.registry import Work

MISSED_AFTER = timedelta(minutes=5)


def dead_jobs_by_kind(
    db: Database, *, hours: int, kinds: frozenset[str] | None = None, now: datetime | None = None
) -> list[Observation]:
    """One observation per job kind with jobs that died within the last `hours` (only
    `kinds` when given): retrying could not help them, so someone must look."""
    since = (now or utcnow()) - timedelta(hours=hours)
    query = (
        select(Job.kind, func.count(), func.max(Job.id))
        .where(Job.state == "dead", Job.finished_at >= since)
        .group_by(Job.kind)
    )
    if kinds is not None:
        query = query.where(Job.kind.in_(kinds))
    with db.read() as session:
        rows = session.execute(query).all()
        errors = {
            kind: session.scalar(select(Job.last_error).where(Job.id == last))
            for kind, _, last in rows
        }
    return [
        Observation(
            Subject("job_kind", kind),
            {
                "dead": count,
                "latest_job_id": last,
                "latest_error": (errors[kind] or "").strip().splitlines()[-1:],
                "hours": hours,
            },
        )
        for kind, count, last in rows
    ]


def dead(context: CheckContext) -> list[Observation]:
    observations = dead_jobs_by_kind(
        context.parts.db, hours=context.parts.settings.ops_lookback_hours, now=context.now
    )
    return [o for o in observations if o.subject.id not in context.claimed_kinds]


def queue_lag(context: CheckContext) -> list[Observation]:
    """Jobs due longer ago than the threshold and still not started, by queue."""
    threshold = context.parts.settings.ops_queue_lag_seconds
    cutoff = context.now - timedelta(seconds=threshold)
    with context.parts.db.read() as session:
        rows = session.execute(
            select(Job.queue, func.count(), func.min(Job.run_at))
            .where(Job.state == "queued", Job.run_at <= cutoff)
            .group_by(Job.queue)
        ).all()
    return [
        Observation(
            Subject("queue", queue),
            {
                "overdue_jobs": count,
                "oldest_waited_seconds": round((context.now - oldest).total_seconds()),
                "threshold_seconds": threshold,
            },
        )
        for queue, count, oldest in rows
    ]


def worker_gone(context: CheckContext) -> list[Observation]:
    """Workers that stopped reporting without stopping (killed, crashed, host lost) within
    the lookback: their running jobs return to the queue when their leases run out."""
    settings = context.parts.settings
    since = context.now - timedelta(hours=settings.ops_lookback_hours)
    stale = context.now - settings.worker_stale_after
    with context.parts.db.read() as session:
        rows = session.scalars(
            select(WorkerHeartbeat).where(
                WorkerHeartbeat.state != "stopped",
                WorkerHeartbeat.last_seen_at < stale,
                WorkerHeartbeat.last_seen_at >= since,
            )
        ).all()
    return [
        Observation(
            Subject("worker", row.id),
            {
                "host": row.host,
                "pid": row.pid,
                "last_seen_at": row.last_seen_at.isoformat(),
                "jobs_running": row.jobs_running,
            },
        )
        for row in rows
    ]


def no_worker(context: CheckContext) -> list[Observation]:
    """No live worker at all: nothing reconciles payments, expires subscriptions, sends
    mail or runs these checks on time."""
    stale = context.now - context.parts.settings.worker_stale_after
    with context.parts.db.read() as session:
        live = session.scalar(
            select(func.count()).where(
                WorkerHeartbeat.state == "running", WorkerHeartbeat.last_seen_at >= stale
            )
        )
        last = session.scalar(select(func.max(WorkerHeartbeat.last_seen_at)))
    if live:
        return []
    return [platform({"last_worker_seen_at": last.isoformat() if last else None}, name="workers")]


def schedule_missed(context: CheckContext) -> list[Observation]:
    """A periodic entry whose latest slot is well past and was never enqueued: workers ran
    (or this check would not), yet the schedule did not move."""
    schedule = context.parts.get(Work).schedule_for(context.parts.settings)
    with context.parts.db.read() as session:
        last = dict(session.execute(select(JobSchedule.name, JobSchedule.last_slot_at)).all())
    observations = []
    for entry in schedule:
        recorded = last.get(entry.name)
        if recorded is None:
            continue  # never enqueued: no worker has run yet (`jobs.no_worker` says so)
        missed = entry.next_slot(recorded)
        # A due slot is enqueued at a worker's next look at the schedule (about a second):
        # one a few minutes overdue was missed.
        late = context.now - missed
        if late < MISSED_AFTER:
            continue
        observations.append(
            Observation(
                Subject("schedule", entry.name),
                {
                    "missed_slot": missed.isoformat(),
                    "last_enqueued_slot": recorded.isoformat(),
                    "late_minutes": round(late.total_seconds() / 60),
                },
            )
        )
    return observations


CHECKS = (
    Check(
        "jobs.dead", "high", N_("Jobs died after their last attempt"), timedelta(minutes=1), dead
    ),
    Check(
        "jobs.queue_lag",
        "high",
        N_("Due jobs wait too long for a worker"),
        timedelta(minutes=1),
        queue_lag,
    ),
    Check(
        "jobs.worker_gone",
        "high",
        N_("A worker went silent without stopping"),
        timedelta(minutes=1),
        worker_gone,
    ),
    Check(
        "jobs.no_worker",
        "critical",
        N_("No job worker is running"),
        timedelta(minutes=1),
        no_worker,
    ),
    Check(
        "jobs.schedule_missed",
        "high",
        N_("A periodic job's slot was not run"),
        timedelta(minutes=1),
        schedule_missed,
    ),
)
