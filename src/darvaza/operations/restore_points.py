"""What the API and the console show of backups: the restore points in the backup folder,
each with the newest verification and drill of it (read from the evidence), and the
restore drills (the `restore_drill` evidence). Read only: making and restoring a restore
point are commands, run on the server where the data is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import InvalidInput, NotFound
from darvaza.operations.backups import (
    ID,
    RestorePoint,
    find_backup,
    list_backups,
)
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import EvidenceFilter, list_evidence
from darvaza.operations.models import Evidence
from darvaza.paging import Page, epoch_microseconds, page_of

# The evidence that names a restore point in its details' `point`.
ABOUT_A_POINT = ("backup_verify", "restore_drill")


@dataclass(frozen=True)
class RestorePointView:
    point: RestorePoint
    last_verify: Evidence | None
    last_drill: Evidence | None


def point_cursor(point: RestorePoint) -> str:
    """The position after a restore point: its time in microseconds and its id."""
    return f"{epoch_microseconds(point.created_at)}_{point.id}"


def _position(point: RestorePoint) -> tuple[int, str]:
    return epoch_microseconds(point.created_at), point.id


def _read_cursor(cursor: str) -> tuple[int, str]:
    stamp, _, point_id = cursor.partition("_")
    if not stamp.isdigit() or not point_id:
        raise InvalidInput("The cursor is not one this API gave out.", code="invalid_cursor")
    return int(stamp), point_id


def _newest_evidence_of(db: Database, point_ids: list[str]) -> dict[tuple[str, str], Evidence]:
    """The newest verification and drill of each restore point, by (kind, point)."""
    if not point_ids:
        return {}
    named = Evidence.details["point"].as_string()
    query = (
        select(Evidence)
        .where(Evidence.kind.in_(ABOUT_A_POINT), named.in_(point_ids))
        .order_by(Evidence.recorded_at.desc(), Evidence.id.desc())
    )
    newest: dict[tuple[str, str], Evidence] = {}
    with db.read() as session:
        for row in session.scalars(query):
            newest.setdefault((row.kind, str(row.details.get("point"))), row)
    return newest


def _views(db: Database, points: list[RestorePoint]) -> list[RestorePointView]:
    newest = _newest_evidence_of(db, [point.id for point in points])
    return [
        RestorePointView(point, newest.get(("backup_verify", point.id)),
                         newest.get(("restore_drill", point.id)))
        for point in points
    ]  # fmt: skip


def list_restore_points(
    db: Database, settings: Settings, *, limit: int, cursor: str | None = None
) -> Page[RestorePointView]:
    """The whole restore points in the backup folder, newest first."""
    points = list_backups(Path(settings.backup_dir))
    if cursor is not None:
        after = _read_cursor(cursor)
        points = [point for point in points if _position(point) < after]
    page = page_of(points[: limit + 1], limit, point_cursor)
    return Page(_views(db, page.items), page.next_cursor)


def get_restore_point(db: Database, settings: Settings, point_id: str) -> RestorePointView:
    folder = Path(settings.backup_dir)
    if not ID.match(point_id) or not (folder / point_id).is_dir():
        raise NotFound("No restore point has this id in the backup folder.")
    try:
        point = find_backup(folder, point_id)
    except BackupError as exc:  # not whole, or its manifest damaged: not a restore point
        raise NotFound(
            f"{point_id} is not a whole restore point: `darvaza backup verify {point_id}` says why."
        ) from exc
    (view,) = _views(db, [point])
    return view


def list_drills(
    db: Database, where: EvidenceFilter, *, limit: int, cursor: str | None = None
) -> Page[Evidence]:
    """The restore drills' evidence, newest first."""
    return list_evidence(
        db,
        EvidenceFilter(kind="restore_drill", result=where.result, since=where.since,
                       until=where.until, instance_name=where.instance_name),
        limit=limit, cursor=cursor,
    )  # fmt: skip


# --- A drill's details, as a reader can rely on them -------------------------------------
# Evidence can also be recorded by hand (`darvaza evidence record`), so its details are
# read for what they hold, never assumed.


@dataclass(frozen=True)
class DrillFacts:
    point: str | None
    rto_seconds: float | None
    rpo_seconds: float | None
    steps: list[tuple[str, float]]
    problems: list[str]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def drill_facts(evidence: Evidence) -> DrillFacts:
    details = evidence.details
    steps = [
        (step["step"], seconds)
        for step in _list(details.get("steps"))
        if isinstance(step, dict) and isinstance(step.get("step"), str)
        and (seconds := _number(step.get("seconds"))) is not None
    ]  # fmt: skip
    point = details.get("point")
    return DrillFacts(
        point=point if isinstance(point, str) else None,
        rto_seconds=_number(details.get("rto_seconds")),
        rpo_seconds=_number(details.get("rpo_seconds")),
        steps=steps,
        problems=[str(problem) for problem in _list(details.get("problems")) if problem],
    )
