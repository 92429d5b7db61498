"""Reading the audit log (auditors and platform admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from darvaza.audit.schemas import AuditEventOut, AuditPageOut
from darvaza.audit.service import AuditFilter, list_events
from darvaza.errors import InvalidInput
from darvaza.params import IsoTime
from darvaza.runtime import RuntimeDep
from darvaza.security.policy import AUDIT_READER, Requires

router = APIRouter(prefix="/api/v1/admin/audit", tags=["admin"])


@router.get("", response_model=AuditPageOut, dependencies=[Requires(AUDIT_READER)])
def list_audit_events(
    runtime: RuntimeDep,
    actor: Annotated[str | None, Query(max_length=64, description="actor id")] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="tenant id")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description='exact, or a prefix ending in "."')
    ] = None,
    since: Annotated[IsoTime | None, Query(description="inclusive")] = None,
    until: Annotated[IsoTime | None, Query(description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditPageOut:
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput("The cursor is not one this API gave out.", code="invalid_cursor")
        before = int(cursor)
    events, next_before = list_events(
        runtime.db,
        AuditFilter(actor_id=actor, tenant_id=tenant, action=action, since=since, until=until),
        limit=limit,
        before_id=before,
    )
    return AuditPageOut(
        items=[AuditEventOut.of(event, seal) for event, seal in events],
        next_cursor=str(next_before) if next_before is not None else None,
    )
