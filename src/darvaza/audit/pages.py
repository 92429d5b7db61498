"""The audit log's console pages, for auditors and platform admins: the events, filtered
and paged as the API pages them, and a button that verifies the whole log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from darvaza.audit import service
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages
from darvaza.errors import N_
from darvaza.http import PartsDep
from darvaza.params import IdCursor
from darvaza.security.policy import AUDIT_READER, Access, Requires

router = APIRouter(prefix="/console/admin/audit", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
ReaderPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]
Filter = Annotated[str, Query(max_length=100)]

NAV = [NavEntry(N_("Platform"), N_("Audit log"), "/console/admin/audit", AUDIT_READER, 50)]


@router.get("", response_class=HTMLResponse)
def audit_page(
    request: Request,
    access: ReaderPage,
    parts: PartsDep,
    actor: Filter = "",
    tenant: Filter = "",
    action: Filter = "",
    cursor: IdCursor = None,
) -> HTMLResponse:
    """Newest first; `action` is exact, or a prefix ending in "." (`payment.`)."""
    page = service.list_events(
        parts.db,
        service.AuditFilter(
            actor_id=actor or None, tenant_id=tenant or None, action=action or None
        ),
        limit=50,
        before_id=int(cursor) if cursor else None,
    )
    filters = {"actor": actor, "tenant": tenant, "action": action}
    return pages.render(request, access, "audit.html", {"page": page, "filters": filters})


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, access: ReaderPage, parts: PartsDep) -> HTMLResponse:
    """Walk every seal and checkpoint (as `darvaza audit verify` does) and say what holds:
    a read, which changes nothing, so auditors may ask it too."""
    report = service.verify_with_settings(parts.db, parts.settings)
    return pages.render(request, access, "verify.html", {"report": report})
