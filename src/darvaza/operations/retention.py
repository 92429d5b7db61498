"""Retention of restore points, in the manner of restic's `forget`: the newest always, the
newest of each of the last N days and M ISO weeks that have one; partial folders left by
backups that died go too."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from darvaza.clock import utcnow
from darvaza.operations.backups import PARTIAL, RestorePoint, list_backups

# A partial folder this old was left by a backup that died (a kill, a power cut).
ABANDONED_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Pruning:
    kept: dict[str, list[str]]  # restore point id: why it is kept
    removed: list[str]  # restore point ids, and abandoned partial folders' names


def plan_pruning(points: list[RestorePoint], *, daily: int, weekly: int) -> dict[str, list[str]]:
    """Which restore points to keep, and why: the newest one always; the newest of each of
    the last `daily` days that have one, and of the last `weekly` ISO weeks (UTC)."""
    newest_first = sorted(points, key=lambda point: point.created_at, reverse=True)
    kept: dict[str, list[str]] = {}
    if newest_first:
        kept[newest_first[0].id] = ["newest"]
    for rule, count, period in (
        ("daily", daily, lambda at: at.date().isoformat()),
        ("weekly", weekly, lambda at: "{}-W{:02d}".format(*at.isocalendar()[:2])),
    ):
        seen: list[str] = []
        for point in newest_first:
            key = period(point.created_at)
            if key not in seen and len(seen) < count:
                seen.append(key)
                kept.setdefault(point.id, []).append(f"{rule} {key}")
    return kept


def prune_backups(
    folder: Path, *, daily: int, weekly: int, dry_run: bool = False, now: datetime | None = None
) -> Pruning:
    """Delete the restore points `plan_pruning` does not keep, and partial folders left by
    backups that died; with `dry_run`, only say which."""
    now = now or utcnow()
    points = list_backups(folder)
    kept = plan_pruning(points, daily=daily, weekly=weekly)
    removed = [point for point in points if point.id not in kept]
    abandoned = [
        path for path in (folder.glob(f"{PARTIAL}*") if folder.is_dir() else [])
        if now.timestamp() - path.stat().st_mtime > ABANDONED_AFTER.total_seconds()
    ]  # fmt: skip
    if not dry_run:
        for point in removed:
            shutil.rmtree(point.path)
        for path in abandoned:
            shutil.rmtree(path, ignore_errors=True)
    return Pruning(kept, [point.id for point in removed] + [path.name for path in abandoned])
