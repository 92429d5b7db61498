"""Incidents' work for the worker: writing into each open incident's story what happened
around it (support access asked for its tenants), so the story is whole even when nobody
touches the incident."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.incidents.service import catch_up
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic


def catch_up_timelines(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return {"written": catch_up(context.db)}


TASKS = Tasks(
    kinds=(JobKind("incidents.catch_up", catch_up_timelines, timeout=timedelta(minutes=5)),),
    schedule=(Periodic("incidents.catch_up", cron="* * * * *"),),
)
