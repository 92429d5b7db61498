"""The ops domain's work for the worker: every minute, run the checks that are due, reopen
findings whose acknowledgement ran out, and queue the alerts the routes ask for; and
deliver each alert (`alerts.deliver`, retried with backoff)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from darvaza.checks import CheckSet
from darvaza.jobs.registry import JobContext, JobKind, PayloadRejected, Tasks
from darvaza.jobs.schedule import Periodic
from darvaza.ops.alert_routes import AlertRoutes
from darvaza.ops.alerts import DELIVER_KIND, deliver_notification, dispatch_alerts
from darvaza.ops.findings import run_checks


def run_due_checks(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    reports = run_checks(context.parts, list(context.parts.get(CheckSet)), only_due=True)
    lookback = timedelta(hours=context.settings.ops_lookback_hours)
    queued = dispatch_alerts(context.db, context.parts.get(AlertRoutes), lookback=lookback)
    return {
        "ran": len(reports),
        "errors": sum(report.error is not None for report in reports),
        "opened": sum(report.opened + report.reopened for report in reports),
        "resolved": sum(report.resolved for report in reports),
        "alerts_queued": queued,
    }


def deliver_alert(context: JobContext, payload: dict[str, Any]) -> dict[str, str]:
    try:
        notification_id = uuid.UUID(str(payload["notification"]))
    except (KeyError, ValueError):
        raise PayloadRejected("no notification id") from None
    job = context.job
    where = deliver_notification(
        context.db,
        context.parts.get(AlertRoutes),
        context.settings,
        notification_id,
        final_attempt=job.attempts >= job.max_attempts,
    )
    return {"sent_to": where}


TASKS = Tasks(
    kinds=(
        JobKind("ops.check", run_due_checks, timeout=timedelta(minutes=5)),
        JobKind(DELIVER_KIND, deliver_alert, timeout=timedelta(minutes=2)),
    ),
    # One attempt: the next minute's slot is the retry.
    schedule=(Periodic("ops.check", every=timedelta(minutes=1), max_attempts=1),),
)
