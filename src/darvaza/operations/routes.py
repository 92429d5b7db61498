"""Evidence over HTTP: platform admins record runs (the smoke checks record theirs here,
on the instance they checked); platform admins and auditors read them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from darvaza.errors import refuses
from darvaza.http import PartsDep
from darvaza.operations import service
from darvaza.operations.schemas import (
    EvidenceIn,
    EvidenceKind,
    EvidenceOut,
    EvidencePageOut,
    EvidenceResult,
)
from darvaza.params import IsoTime, PageLimit, TimeCursor
from darvaza.security.policy import AUDIT_READER, PLATFORM_ADMIN, Access, Requires

router = APIRouter(prefix="/api/v1/admin/evidence", tags=["admin"])


@router.post(
    "",
    status_code=201,
    response_model=EvidenceOut,
    responses=refuses(
        _422="Invalid input; also details over 16 KiB (`details_too_large`) or times out of "
        "order (`invalid_range`)."
    ),
)
def record_evidence(
    body: EvidenceIn, access: Annotated[Access, Requires(PLATFORM_ADMIN)], parts: PartsDep
) -> EvidenceOut:
    """Record one operational run on this instance (audited): the server adds its own
    version, revision, migration head and instance."""
    run = service.Run(
        kind=body.kind,
        name=body.name,
        result=body.result,
        details=body.details,
        started_at=body.started_at,
        finished_at=body.finished_at,
    )
    evidence = service.record_evidence(parts.db, parts.settings, access.user.actor(), run)
    return EvidenceOut.of(evidence)


@router.get("", response_model=EvidencePageOut, dependencies=[Requires(AUDIT_READER)])
def list_evidence(
    parts: PartsDep,
    kind: EvidenceKind | None = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    result: EvidenceResult | None = None,
    instance: Annotated[str | None, Query(max_length=100, description="instance name")] = None,
    profile: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[IsoTime | None, Query(description="recorded at or after")] = None,
    until: Annotated[IsoTime | None, Query(description="recorded before")] = None,
    limit: PageLimit = 50,
    cursor: TimeCursor = None,
) -> EvidencePageOut:
    """Newest first; `next_cursor` pages on."""
    page = service.list_evidence(
        parts.db,
        service.EvidenceFilter(
            kind=kind, name=name, result=result, instance_name=instance, profile=profile,
            since=since, until=until,
        ),
        limit=limit,
        cursor=cursor,
    )  # fmt: skip
    return EvidencePageOut(
        items=[EvidenceOut.of(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("/{evidence_id}", response_model=EvidenceOut, dependencies=[Requires(AUDIT_READER)])
def get_evidence(evidence_id: uuid.UUID, parts: PartsDep) -> EvidenceOut:
    return EvidenceOut.of(service.get_evidence(parts.db, evidence_id))
