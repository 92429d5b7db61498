"""The evidence list in the console, for platform admins and auditors: every operational
run newest first, filtered by kind, result, name and instance, each with what it found."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages
from darvaza.errors import N_
from darvaza.http import PartsDep
from darvaza.operations import service
from darvaza.operations.schemas import EvidenceKind, EvidenceResult
from darvaza.params import TimeCursor
from darvaza.security.policy import AUDIT_READER, Access, Requires

router = APIRouter(prefix="/console/admin", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
ReaderPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]

NAV = [NavEntry(N_("Platform"), N_("Evidence"), "/console/admin/evidence", AUDIT_READER, 31)]
PAGE_SIZE = 50


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
