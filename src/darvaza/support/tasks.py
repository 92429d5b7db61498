"""Support's work for the worker: writing down grants whose time is over and requests
nobody decided (the policy already refuses them; this makes the history say so), and
closing tickets solved long enough ago."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic
from darvaza.support.service import close_solved_tickets, end_due_grants


def end_grants(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return end_due_grants(context.db)


def close_tickets(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    days = timedelta(days=context.settings.support_close_after_days)
    return {"closed": len(close_solved_tickets(context.db, older_than=days))}


TASKS = Tasks(
    kinds=(
        JobKind("support.end_grants", end_grants, timeout=timedelta(minutes=5)),
        JobKind("support.close_tickets", close_tickets, timeout=timedelta(minutes=10)),
    ),
    schedule=(
        Periodic("support.end_grants", cron="* * * * *"),
        Periodic("support.close_tickets", cron="23 * * * *"),
    ),
)
