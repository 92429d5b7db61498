"""The platform's own ops checks: the schema, the settings, the disks, Redis, and alerts
that could not be delivered."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from darvaza.checks import Check, CheckContext, Observation, Subject, platform
from darvaza.errors import N_
from darvaza.ops.models import AlertNotification
from darvaza.revisions import migration_status
from darvaza.security.ratelimit import RateLimiter


def migrations_pending(context: CheckContext) -> list[Observation]:
    status = migration_status(context.parts.db)
    if not status.pending:
        return []
    details = {"database_at": status.current_label, "code_expects": sorted(status.head)}
    return [platform(details, name="schema")]


def unsafe_settings(context: CheckContext) -> list[Observation]:
    problems = context.parts.settings.problems()
    if not problems:
        return []
    details = {"profile": context.parts.settings.profile.value, "problems": problems}
    return [platform(details, name="settings")]


def _watched_folders(context: CheckContext) -> dict[str, Path]:
    settings, db = context.parts.settings, context.parts.db
    folders = {"storage": Path(settings.storage_dir)}
    if db.backend == "sqlite" and db.url.database not in (None, "", ":memory:"):
        folders["database"] = Path(str(db.url.database)).resolve().parent
    return folders


def disk_low(context: CheckContext) -> list[Observation]:
    """Free space on the disks holding the SQLite database and the stored files (a
    PostgreSQL server's disk is its own host's to watch)."""
    floor = context.parts.settings.ops_disk_free_percent
    observations = []
    for name, folder in _watched_folders(context).items():
        usage = shutil.disk_usage(folder)
        free = 100 * usage.free / usage.total if usage.total else 0.0
        if free < floor:
            details = {
                "path": str(folder),
                "free_percent": round(free, 2),
                "free_bytes": usage.free,
                "floor_percent": floor,
            }
            observations.append(Observation(Subject("disk", name), details))
    return observations


def redis_unreachable(context: CheckContext) -> list[Observation]:
    """Redis is configured for the rate limits but does not answer: every process falls
    back to counting on its own, so limits are per process instead of shared."""
    limiter = context.parts.get(RateLimiter)
    if limiter.backend != "redis":
        return []
    try:
        answers = limiter.ping()
    except Exception as exc:  # noqa: BLE001 (any failure to answer is the finding)
        return [platform({"error": type(exc).__name__}, name="redis")]
    return [] if answers else [platform({"error": "no answer"}, name="redis")]


def alerts_undelivered(context: CheckContext) -> list[Observation]:
    """Alerts whose every delivery attempt failed, by route and receiver: the people who
    should have been told were not."""
    since = context.now - timedelta(hours=context.parts.settings.ops_lookback_hours)
    with context.parts.db.read() as session:
        rows = session.execute(
            select(AlertNotification.route, AlertNotification.receiver, func.count(),
                   func.max(AlertNotification.updated_at))
            .where(AlertNotification.state == "dead", AlertNotification.updated_at >= since)
            .group_by(AlertNotification.route, AlertNotification.receiver)
        ).all()  # fmt: skip
    return [
        Observation(
            Subject("alert_receiver", f"{route}/{receiver}"),
            {"route": route, "receiver": receiver, "dead": count, "latest": latest.isoformat()},
        )
        for route, receiver, count, latest in rows
    ]


CHECKS = (
    Check(
        "platform.migrations_pending",
        "critical",
        N_("The database schema is behind the code"),
        timedelta(minutes=1),
        migrations_pending,
    ),
    Check(
        "platform.unsafe_settings",
        "critical",
        N_("Settings are unsafe for this profile"),
        timedelta(minutes=5),
        unsafe_settings,
    ),
    Check(
        "platform.disk_low",
        "high",
        N_("Low free disk space"),
        timedelta(minutes=5),
        disk_low,
    ),
    Check(
        "platform.redis_unreachable",
        "high",
        N_("Redis is configured but does not answer"),
        timedelta(minutes=1),
        redis_unreachable,
    ),
    Check(
        "alerts.undelivered",
        "high",
        N_("Alerts could not be delivered"),
        timedelta(minutes=1),
        alerts_undelivered,
        claims_job_kinds=("alerts.deliver",),
    ),
)
