"""Operations' ops checks: a recent backup, and a recent restore drill that passed. Until
backups exist (`darvaza backup create`, `darvaza drill restore`) both stay open, as they
should: a platform without a restore point is not safe to run for money."""

from __future__ import annotations

from datetime import datetime, timedelta

from darvaza.checks import Check, CheckContext, Observation, Subject
from darvaza.errors import N_
from darvaza.operations.evidence import latest_evidence


def _missing(
    kind: str, newest: datetime | None, window: timedelta, now: datetime
) -> list[Observation]:
    if newest is not None and now - newest <= window:
        return []
    details = {
        "kind": kind,
        "newest_passed_at": newest.isoformat() if newest else None,
        "allowed_hours": round(window.total_seconds() / 3600, 1),
    }
    return [Observation(Subject("evidence", kind), details)]


def _newest_passed(context: CheckContext, kind: str) -> datetime | None:
    newest = latest_evidence(context.parts.db, kind=kind, result="passed")
    return newest.finished_at if newest else None


def backup_missing(context: CheckContext) -> list[Observation]:
    window = timedelta(hours=context.parts.settings.backup_max_age_hours)
    return _missing("backup", _newest_passed(context, "backup"), window, context.now)


def restore_drill_missing(context: CheckContext) -> list[Observation]:
    window = timedelta(days=context.parts.settings.restore_drill_max_age_days)
    return _missing("restore_drill", _newest_passed(context, "restore_drill"), window, context.now)


CHECKS = (
    Check(
        "backups.missing",
        "high",
        N_("No recent backup"),
        timedelta(minutes=10),
        backup_missing,
    ),
    Check(
        "backups.restore_drill_missing",
        "high",
        N_("No recent restore drill that passed"),
        timedelta(minutes=10),
        restore_drill_missing,
    ),
)
