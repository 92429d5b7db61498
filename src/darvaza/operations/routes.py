"""Evidence over HTTP: platform admins record runs (the smoke checks record theirs here,
on the instance they checked); platform admins and auditors read them, and the restore
points and restore drills (read only: making and restoring one are commands)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from darvaza.errors import refuses
from darvaza.http import PartsDep
from darvaza.operations import service
from darvaza.operations.schemas import (
    RESTORE_POINT_ID,
    EvidenceIn,
    EvidenceKind,
    EvidenceOut,
    EvidencePageOut,
    EvidenceResult,
    FixtureAccountOut,
    RestoreDrillOut,
    RestoreDrillPageOut,
    RestorePointCursor,
    RestorePointOut,
    RestorePointPageOut,
    SmokeFixtureIn,
    SmokeFixtureOut,
)
from darvaza.params import IsoTime, PageLimit, TimeCursor
from darvaza.security.policy import AUDIT_READER, PLATFORM_ADMIN, Access, Requires

router = APIRouter(prefix="/api/v1/admin/evidence", tags=["admin"])
fixture_router = APIRouter(prefix="/api/v1/admin/smoke-fixture", tags=["admin"])
backups_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


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
    revision: Annotated[str | None, Query(max_length=64, description="the build's")] = None,
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
            revision=revision, since=since, until=until,
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


@fixture_router.post(
    "",
    response_model=SmokeFixtureOut,
    responses=refuses(
        _409="A real (not synthetic) tenant has the smoke tenant's slug (`not_synthetic`).",
        _422="Invalid input; also a label asked for twice or an owner's (`invalid_label`).",
    ),
)
def prepare_smoke_fixture(
    body: SmokeFixtureIn, access: Annotated[Access, Requires(PLATFORM_ADMIN)], parts: PartsDep
) -> Response:
    """What the smoke checks run with, made once and reused: two synthetic tenants on the
    mock gateway, a plan, and the accounts asked for, each with a new password (shown
    only in this answer), the platform role asked for, and no subscription or place as a
    manager there left from an earlier run. Audited."""
    wanted = [service.AccountWanted(a.label, a.platform_role) for a in body.accounts]
    fixture = service.prepare_smoke_fixture(parts.db, parts.settings, access.user.actor(), wanted)
    answer = SmokeFixtureOut(
        tenant=fixture.tenant,
        other_tenant=fixture.other_tenant,
        plan_code=fixture.plan_code,
        accounts=[FixtureAccountOut(**vars(account)) for account in fixture.accounts.values()],
    )
    # Passwords: never kept by a cache on the way.
    return Response(
        answer.model_dump_json(), media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@backups_router.get(
    "/backups", response_model=RestorePointPageOut, dependencies=[Requires(AUDIT_READER)]
)
def list_restore_points(
    parts: PartsDep,
    limit: PageLimit = 50,
    cursor: RestorePointCursor = None,
) -> RestorePointPageOut:
    """The whole restore points in this instance's backup folder, newest first, each with
    its newest verification and drill. Making and restoring one are commands on the
    server (`darvaza backup create`, `darvaza backup restore`), never routes."""
    page = service.list_restore_points(parts.db, parts.settings, limit=limit, cursor=cursor)
    return RestorePointPageOut(
        items=[RestorePointOut.of(view) for view in page.items], next_cursor=page.next_cursor
    )


@backups_router.get(
    "/backups/{point_id}",
    response_model=RestorePointOut,
    dependencies=[Requires(AUDIT_READER)],
    responses=refuses(_404="No whole restore point has this id in the backup folder."),
)
def get_restore_point(
    point_id: Annotated[
        str, Path(pattern=RESTORE_POINT_ID, description="such as 20261204T183000Z-1a2b3c")
    ],
    parts: PartsDep,
) -> RestorePointOut:
    return RestorePointOut.of(service.get_restore_point(parts.db, parts.settings, point_id))


@backups_router.get(
    "/restore-drills", response_model=RestoreDrillPageOut, dependencies=[Requires(AUDIT_READER)]
)
def list_restore_drills(
    parts: PartsDep,
    result: EvidenceResult | None = None,
    instance: Annotated[str | None, Query(max_length=100, description="instance name")] = None,
    since: Annotated[IsoTime | None, Query(description="recorded at or after")] = None,
    until: Annotated[IsoTime | None, Query(description="recorded before")] = None,
    limit: PageLimit = 50,
    cursor: TimeCursor = None,
) -> RestoreDrillPageOut:
    """Restore drills newest first: the restore point, the verdict, each step's time, the
    RTO and the RPO (`restore_drill` evidence, read for what it holds)."""
    page = service.list_drills(
        parts.db,
        service.EvidenceFilter(result=result, instance_name=instance, since=since, until=until),
        limit=limit,
        cursor=cursor,
    )
    return RestoreDrillPageOut(
        items=[RestoreDrillOut.of(row) for row in page.items], next_cursor=page.next_cursor
    )
