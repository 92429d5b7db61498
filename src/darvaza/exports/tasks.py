"""Exports' work for the worker: making an export asked for, and deleting the files of
those past their keeping time (hourly)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from darvaza.exports.service import expire_exports, produce_export
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic


def produce(context: JobContext, payload: dict[str, Any]) -> dict[str, str]:
    export_id = uuid.UUID(str(payload["export_id"]))
    return {"state": produce_export(context.db, context.settings, export_id)}


def expire(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return {"expired": expire_exports(context.db, context.settings)}


TASKS = Tasks(
    kinds=(
        JobKind("exports.produce", produce, timeout=timedelta(hours=1)),
        JobKind("exports.expire", expire, timeout=timedelta(minutes=5)),
    ),
    schedule=(Periodic("exports.expire", cron="17 * * * *"),),
)
