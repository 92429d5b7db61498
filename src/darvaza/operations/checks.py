"""Operations' ops checks: a recent backup, a recent restore drill that passed, and the
newest backup, verify and drill not failed. Until backups exist (`darvaza backup create`,
`darvaza drill restore`) the first two stay open, as they should: a platform without a
restore point is not safe to run for money."""

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


# The runs whose newest record failing is a finding of its own, not only once it is old.
WATCHED_RUNS = ("backup", "backup_verify", "restore_drill")


def last_run_failed(context: CheckContext) -> list[Observation]:
    """The newest backup, verify or drill failed: the nightly job's retries ran out, a
    restore point no longer checks out, or a drill did not come up green."""
    observations = []
    for kind in WATCHED_RUNS:
        newest = latest_evidence(context.parts.db, kind=kind)
        if newest is None or newest.result != "failed":
            continue
        problems = newest.details.get("problems") or [newest.details.get("error")]
        details = {
            "kind": kind, "evidence": str(newest.id), "name": newest.name,
            "failed_at": newest.finished_at.isoformat(),
            "point": newest.details.get("point"),
            "problems": [str(problem) for problem in problems if problem][:5],
        }  # fmt: skip
        observations.append(Observation(Subject("evidence", kind), details))
    return observations


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
    Check(
        "backups.last_run_failed",
        "high",
        N_("The last backup, verify or restore drill failed"),
        timedelta(minutes=10),
        last_run_failed,
    ),
)
