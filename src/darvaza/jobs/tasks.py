"""The job engine's own upkeep: pruning finished jobs past their retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic
from darvaza.jobs.service import prune_finished


def prune_jobs(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    days = context.settings.job_retention_days
    return {"jobs": prune_finished(context.db, older_than=timedelta(days=days))}


TASKS = Tasks(
    kinds=(JobKind("jobs.prune", prune_jobs, timeout=timedelta(minutes=10)),),
    schedule=(Periodic("jobs.prune", cron="30 3 * * *"),),
)
