"""Operations' work for the worker: the nightly restore point (then retention), and the
weekly restore drill of the newest restore point. Each records its evidence, as the
commands do; when they run is a setting (`backup_schedule`, `restore_drill_schedule`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic
from darvaza.logs import get_logger
from darvaza.operations.backups import (
    Progress,
    backup_run,
    create_backup,
    failed_backup_run,
    list_backups,
)
from darvaza.operations.drill import run_restore_drill
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import record_evidence
from darvaza.operations.retention import prune_backups
from darvaza.security.caller import Actor

WORKER = Actor.system("worker")
log = get_logger("darvaza.backups")


def take_scheduled_backup(context: JobContext, _payload: dict[str, Any]) -> dict[str, Any]:
    """A restore point labelled `scheduled`, then retention: a failed backup is recorded
    and raised, so the job is retried with backoff and nothing is pruned."""
    db, settings = context.db, context.settings
    folder = Path(settings.backup_dir)
    started = utcnow()
    try:
        point = create_backup(
            db, settings, folder=folder, label="scheduled", progress=Progress(log.info)
        )
    except BackupError as exc:
        record_evidence(db, settings, WORKER, failed_backup_run(exc, started_at=started))
        raise
    record_evidence(db, settings, WORKER, backup_run(point, started_at=started))
    pruning = prune_backups(
        folder, daily=settings.backup_keep_daily, weekly=settings.backup_keep_weekly
    )
    return {"restore_point": point.id, "bytes": point.size, "pruned": pruning.removed}


class DrillFailed(Exception):
    """The drill ran and did not pass (its evidence says why)."""


def run_scheduled_drill(context: JobContext, _payload: dict[str, Any]) -> dict[str, Any]:
    """Drill the newest restore point (what a recovery tonight would use), or a new one
    when there is none. A drill that fails is recorded, then raised for one retry."""
    db, settings = context.db, context.settings
    started = utcnow()
    points = [
        point for point in list_backups(Path(settings.backup_dir))
        if point.engine == settings.database_backend
    ]  # fmt: skip
    drill = run_restore_drill(
        db, settings, point=points[0] if points else None, progress=Progress(log.info)
    )
    record_evidence(db, settings, WORKER, drill.run(started_at=started))
    if drill.result != "passed":
        raise DrillFailed(f"The restore drill of {drill.point} failed: {'; '.join(drill.problems)}")
    return {"restore_point": drill.point, "rto_seconds": drill.rto_seconds}


TASKS = Tasks(
    kinds=(
        JobKind("backups.create", take_scheduled_backup, timeout=timedelta(hours=2)),
        JobKind("backups.restore_drill", run_scheduled_drill, timeout=timedelta(hours=1)),
    ),
    schedule=(
        Periodic("backups.create", setting="backup_schedule", upkeep=False),
        Periodic(
            "backups.restore_drill",
            setting="restore_drill_schedule",
            max_attempts=2,
            upkeep=False,
        ),
    ),
)


def next_runs(settings: Settings, now: datetime) -> dict[str, datetime | None]:
    """When the worker next takes a restore point and runs a drill (None: turned off)."""
    runs: dict[str, datetime | None] = {}
    for entry in TASKS.schedule:
        configured = entry.configured(settings)
        runs[entry.kind] = configured.next_slot(now) if configured else None
    return runs
