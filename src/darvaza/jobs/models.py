"""The queue table.

A job moves `queued → running → succeeded`, or back to `queued` with a retry scheduled
(`failed` is recorded in its history as the last error), until its last attempt ends it
`dead`; `cancelled` by an operator. A running job holds a lease; a job whose lease ran
out (its worker died) goes back to the queue. A unique key, while a job with it is queued
or running, makes enqueueing idempotent: a partial unique index enforces it.

`worker_heartbeats` is each worker process's last word (who, where, how busy);
`job_schedules` remembers the last time slot each periodic job was enqueued for, so that
any number of workers enqueue each slot once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import Base
from darvaza.states import table

JobId = BigInteger().with_variant(Integer(), "sqlite")
# A job: queued → running → succeeded, or back to queued (a retry after backoff, a drained
# worker, a lease that ran out) or dead (its last attempt failed). An operator may cancel
# a queued job and run a dead or cancelled one again.
JOB = table(
    "job",
    queued="running cancelled",
    running="succeeded queued dead",
    dead="queued",
    cancelled="queued",
)
# States in which a job is over until someone runs it again.
ENDED = frozenset({"succeeded", "dead", "cancelled"})
LIVE = "state IN ('queued', 'running')"
QUEUED = "state = 'queued'"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')", name="state_known"
        ),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts_sane"),
        # The claim query: queued jobs of a queue, in claim order (priority, due time),
        # so a claim reads the first rows of this index instead of sorting the queue.
        Index(
            "ix_jobs_claim",
            "queue",
            "priority",
            "run_at",
            "id",
            postgresql_where=text(QUEUED),
            sqlite_where=text(QUEUED),
        ),
        Index("ix_jobs_state_lease_expires_at", "state", "lease_expires_at"),
        Index("ix_jobs_state_finished_at", "state", "finished_at"),
        Index(
            "uq_jobs_live_unique_key",
            "unique_key",
            unique=True,
            postgresql_where=text(LIVE),
            sqlite_where=text(LIVE),
        ),
    )

    id: Mapped[int] = mapped_column(JobId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(50), default="default")
    payload: Mapped[dict[str, Any]]
    # Lower runs first; 0 is the default, a negative number jumps the queue.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    unique_key: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # When the current (or last) attempt started: queue lag and run time are measured from it.
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'draining', 'stopped')", name="state_known"),
        Index("ix_worker_heartbeats_last_seen_at", "last_seen_at"),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(200))
    concurrency: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    jobs_running: Mapped[int] = mapped_column(Integer, default=0)
    jobs_succeeded: Mapped[int] = mapped_column(BigInteger, default=0)
    jobs_failed: Mapped[int] = mapped_column(BigInteger, default=0)


class JobSchedule(Base):
    __tablename__ = "job_schedules"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_slot_at: Mapped[datetime]
    last_job_id: Mapped[int | None] = mapped_column(JobId)
    updated_at: Mapped[datetime]
