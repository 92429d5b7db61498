"""The readiness API: the report (platform admins and auditors) and the exemptions
(auditors read; platform admins grant and withdraw)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from darvaza.checks import CheckSet
from darvaza.clock import utcnow
from darvaza.errors import refuses
from darvaza.http import PartsDep, part
from darvaza.ops.alert_routes import AlertRoutes
from darvaza.params import PageLimit, TimeCursor
from darvaza.readiness import service
from darvaza.readiness.schemas import (
    ExemptionIn,
    ExemptionOut,
    ExemptionPageOut,
    ForProfile,
    ReadinessOut,
    WithdrawIn,
)
from darvaza.security.policy import AUDIT_READER, PLATFORM_ADMIN, Access, Requires

router = APIRouter(prefix="/api/v1/admin/readiness", tags=["readiness"])
routers = (router,)
READ = [Requires(AUDIT_READER)]
Admin = Annotated[Access, Requires(PLATFORM_ADMIN)]
ChecksDep = Annotated[CheckSet, part(CheckSet)]
RoutesDep = Annotated[AlertRoutes, part(AlertRoutes)]


@router.get("", response_model=ReadinessOut, dependencies=READ)
def readiness(
    parts: PartsDep,
    checks: ChecksDep,
    routes: RoutesDep,
    response: Response,
    for_profile: Annotated[
        ForProfile | None,
        Query(alias="for", description="the profile the claim is for (default: this one's)"),
    ] = None,
) -> ReadinessOut:
    """Each V1 proof from the evidence and the live state, and the verdict: READY only
    when every proof passes or stands exempt."""
    report = service.readiness_report(
        parts.db, parts.settings, checks, routes, for_profile=for_profile
    )
    response.headers["Cache-Control"] = "no-store"
    return ReadinessOut.of(report)


@router.get("/exemptions", response_model=ExemptionPageOut, dependencies=READ)
def exemptions(
    parts: PartsDep, limit: PageLimit = 50, cursor: TimeCursor = None
) -> ExemptionPageOut:
    """Every exemption ever granted, newest first, with its state now."""
    page = service.list_exemptions(parts.db, limit=limit, cursor=cursor)
    now = utcnow()
    return ExemptionPageOut(
        items=[ExemptionOut.of(e, now) for e in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/exemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=ExemptionOut,
    responses=refuses(
        _422="No reason, an end past the longest exemption, or a proof that cannot be "
        "exempted here (`proof_not_exemptable`)."
    ),
)
def exempt(body: ExemptionIn, access: Admin, parts: PartsDep) -> ExemptionOut:
    """Let one proof stand exempt until a time, with a reason; audited."""
    exemption = service.exempt_proof(
        parts.db, parts.settings, access.user.actor(), who=access.user.email,
        proof=body.proof, reason=body.reason, expires_at=body.expires_at,
    )  # fmt: skip
    return ExemptionOut.of(exemption, utcnow())


@router.post(
    "/exemptions/{exemption_id}/withdraw",
    response_model=ExemptionOut,
    responses=refuses(_404="No exemption has this id.", _409="It was withdrawn already."),
)
def withdraw(
    exemption_id: uuid.UUID, body: WithdrawIn, access: Admin, parts: PartsDep
) -> ExemptionOut:
    """End an exemption now; audited."""
    exemption = service.withdraw_exemption(
        parts.db, access.user.actor(), exemption_id, who=access.user.email, reason=body.reason
    )
    return ExemptionOut.of(exemption, utcnow())
