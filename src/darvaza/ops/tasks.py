"""The ops domain's work for the worker: every minute, run the checks that are due, reopen
findings whose acknowledgement ran out, and queue the alerts the routes ask for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.checks import CheckSet
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic
from darvaza.ops.findings import run_checks


def run_due_checks(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    reports = run_checks(context.parts, list(context.parts.get(CheckSet)), only_due=True)
    return {
        "ran": len(reports),
        "errors": sum(report.error is not None for report in reports),
        "opened": sum(report.opened + report.reopened for report in reports),
        "resolved": sum(report.resolved for report in reports),
    }


TASKS = Tasks(
    kinds=(JobKind("ops.check", run_due_checks, timeout=timedelta(minutes=5)),),
    # One attempt: the next minute's slot is the retry.
    schedule=(Periodic("ops.check", every=timedelta(minutes=1), max_attempts=1),),
)
