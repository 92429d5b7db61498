"""The console's operations pages, for platform admins and auditors: the evidence of every
operational run (newest first, filtered by kind, result, name and instance, each with
what it found), and the backups page (the restore points with their newest verification
and drill, the recent restore drills, the schedule and retention in force)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from darvaza.clock import utcnow
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages
from darvaza.errors import N_
from darvaza.http import PartsDep
from darvaza.operations import service
from darvaza.operations.schemas import EvidenceKind, EvidenceResult, RestorePointCursor
from darvaza.params import TimeCursor
from darvaza.security.policy import AUDIT_READER, Access, Requires

router = APIRouter(prefix="/console/admin", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
ReaderPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]

NAV = [
    NavEntry(N_("Platform"), N_("Evidence"), "/console/admin/evidence", AUDIT_READER, 31),
    NavEntry(N_("Platform"), N_("Backups"), "/console/admin/backups", AUDIT_READER, 32),
]
PAGE_SIZE = 50
RECENT_DRILLS = 10


@router.get("/evidence", response_class=HTMLResponse)
def evidence_page(
    request: Request,
    access: ReaderPage,
    parts: PartsDep,
    # A filter's "any" is the empty choice, as a form sends it.
    kind: Annotated[EvidenceKind | Literal[""], Query()] = "",
    result: Annotated[EvidenceResult | Literal[""], Query()] = "",
    name: Annotated[str, Query(max_length=100)] = "",
    instance: Annotated[str, Query(max_length=100, description="instance name")] = "",
    cursor: TimeCursor = None,
) -> HTMLResponse:
    """Evidence newest first: what ran, how it ended, where and by whom."""
    page = service.list_evidence(
        parts.db,
        service.EvidenceFilter(
            kind=kind or None, result=result or None, name=name or None,
            instance_name=instance or None,
        ),
        limit=PAGE_SIZE,
        cursor=cursor,
    )  # fmt: skip
    return pages.render(
        request, access, "evidence.html",
        {"page": page,
         "filters": {"kind": kind, "result": result, "name": name, "instance": instance},
         "kinds": service.EVIDENCE_KINDS, "results": service.EVIDENCE_RESULTS},
    )  # fmt: skip


@router.get("/backups", response_class=HTMLResponse)
def backups_page(
    request: Request,
    access: ReaderPage,
    parts: PartsDep,
    cursor: RestorePointCursor = None,
) -> HTMLResponse:
    """What a recovery would start from: the restore points, newest first, each with its
    newest verification and drill; the recent drills; when the worker takes the next."""
    settings, now = parts.settings, utcnow()
    points = service.list_restore_points(parts.db, settings, limit=PAGE_SIZE, cursor=cursor)
    drills = service.list_drills(parts.db, service.EvidenceFilter(), limit=RECENT_DRILLS)
    runs = service.next_runs(settings, now)
    policy = {
        "next_backup": runs["backups.create"], "next_drill": runs["backups.restore_drill"],
        "backup_schedule": settings.backup_schedule,
        "drill_schedule": settings.restore_drill_schedule,
        "keep_daily": settings.backup_keep_daily, "keep_weekly": settings.backup_keep_weekly,
        "backup_max_age_hours": settings.backup_max_age_hours,
        "drill_max_age_days": settings.restore_drill_max_age_days,
        "compressed": settings.backup_compression != "none",
        "recipients": len(settings.backup_age_recipients.replace(",", " ").split()),
    }  # fmt: skip
    return pages.render(
        request, access, "backups.html",
        {"points": points, "drills": [(row, service.drill_facts(row)) for row in drills.items],
         "first_page": cursor is None, "now": now, "policy": policy},
    )  # fmt: skip
