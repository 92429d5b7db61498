"""Reading the audit log (auditors and platform admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from darvaza.audit.schemas import AuditEventOut, AuditPageOut
from darvaza.audit.service import AuditFilter, list_events
from darvaza.http import PartsDep
from darvaza.params import IdCursor, IsoTime, PageLimit
from darvaza.security.policy import AUDIT_READER, Requires

router = APIRouter(prefix="/api/v1/admin/audit", tags=["admin"])


@router.get("", response_model=AuditPageOut, dependencies=[Requires(AUDIT_READER)])
def list_audit_events(
    parts: PartsDep,
    actor: Annotated[str | None, Query(max_length=64, description="actor id")] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="tenant id")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description='exact, or a prefix ending in "."')
    ] = None,
    since: Annotated[IsoTime | None, Query(description="inclusive")] = None,
    until: Annotated[IsoTime | None, Query(description="exclusive")] = None,
    limit: PageLimit = 50,
    cursor: IdCursor = None,
) -> AuditPageOut:
    page = list_events(
        parts.db,
        AuditFilter(actor_id=actor, tenant_id=tenant, action=action, since=since, until=until),
        limit=limit,
        before_id=int(cursor) if cursor else None,
    )
    return AuditPageOut(
        items=[AuditEventOut.of(event, seal) for event, seal in page.items],
        next_cursor=page.next_cursor,
    )
