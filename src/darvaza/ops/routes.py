"""Probes (liveness, readiness, metrics) and the ops summary with its findings."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from darvaza import __version__
from darvaza.checks import CheckSet
from darvaza.context import current_request_id
from darvaza.errors import error_body, refuses
from darvaza.http import PartsDep, part
from darvaza.jobs.service import WorkerMissing, describe_workers
from darvaza.metrics import Metrics
from darvaza.ops import service
from darvaza.ops.schemas import (
    AcknowledgeIn,
    CheckOut,
    FindingEventOut,
    FindingHistoryOut,
    FindingOut,
    FindingPageOut,
    FindingState,
    HealthOut,
    ReadinessOut,
    Severity,
    SummaryOut,
)
from darvaza.ops.service import CheckFailed, check_readiness
from darvaza.params import PageLimit, TimeCursor
from darvaza.security.policy import (
    METRICS_SCRAPER,
    OPS_READER,
    PLATFORM_ADMIN,
    PUBLIC,
    Access,
    Requires,
)
from darvaza.security.ratelimit import RatesDep

router = APIRouter(tags=["ops"])
admin = APIRouter(prefix="/api/v1/admin/ops", tags=["admin"])
MetricsDep = Annotated[Metrics, part(Metrics)]
ChecksDep = Annotated[CheckSet, part(CheckSet)]

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/health", response_model=HealthOut, dependencies=[Requires(PUBLIC)])
def health() -> HealthOut:
    """Liveness: the process answers. Touches no database, so a database outage never
    makes an orchestrator restart a healthy process."""
    return HealthOut(status="ok", version=__version__)


@router.get(
    "/ready",
    response_model=ReadinessOut,
    responses={503: {"description": "Not ready: the error shape plus every check's result"}},
    dependencies=[Requires(PUBLIC)],
)
async def ready(parts: PartsDep, rates: RatesDep) -> JSONResponse:
    """Readiness: the database answers, no migration is pending, and (outside `local`) a
    job worker is live; Redis answers when rate limits are kept there. Each failing check
    is logged as `readiness_check_failed` with its reason."""
    stale, required = parts.settings.worker_stale_after, not parts.settings.is_local

    def workers() -> str:
        try:
            return describe_workers(parts.db, stale_after=stale, required=required)
        except WorkerMissing as exc:
            raise CheckFailed(str(exc)) from None

    extra: dict[str, Callable[[], object]] = {"workers": workers}
    if rates.limiter.backend == "redis":
        extra["rate_limit_store"] = rates.limiter.ping
    report = await check_readiness(
        parts.db, parts.settings.readiness_timeout_seconds, extra_checks=extra
    )
    body = ReadinessOut(
        status="ready" if report.ready else "not_ready",
        checks={name: CheckOut(**vars(result)) for name, result in report.checks.items()},
    ).model_dump()
    if report.ready:
        return JSONResponse(body)
    message = "Not ready: " + ", ".join(report.failing()) + " failing."
    return JSONResponse(
        {**error_body("not_ready", message, current_request_id()), **body}, status_code=503
    )


@router.get("/metrics", response_class=Response, dependencies=[Requires(METRICS_SCRAPER)])
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format. Open unless `DARVAZA_METRICS_TOKEN` is set."""
    return Response(metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


@admin.get("/summary", response_model=SummaryOut, dependencies=[Requires(OPS_READER)])
def ops_summary(parts: PartsDep, checks: ChecksDep) -> Response:
    """What is wrong right now, read from the stored findings (never by running a check):
    the overall status, every check's freshness and the unresolved findings worst first,
    each with its owner and its playbook's first steps. Versioned by `schema_version`."""
    summary = SummaryOut.of(service.ops_summary(parts.db, parts.settings, checks))
    # Written here, already checked by its model: FastAPI would check it all over again,
    # which with a few hundred findings is most of the answer's time.
    return Response(summary.model_dump_json(), media_type="application/json")


@admin.get("/findings", response_model=FindingPageOut, dependencies=[Requires(OPS_READER)])
def list_findings(
    parts: PartsDep,
    checks: ChecksDep,
    state: FindingState | None = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    severity: Severity | None = None,
    limit: PageLimit = 50,
    cursor: TimeCursor = None,
) -> FindingPageOut:
    """Findings in any state, resolved ones too, most recently changed first."""
    page = service.list_findings(
        parts.db,
        service.FindingFilter(state=state, code=code, severity=severity),
        limit=limit,
        cursor=cursor,
    )
    views = service.views_of(page.items, checks)
    return FindingPageOut(
        items=[FindingOut.of(view) for view in views], next_cursor=page.next_cursor
    )


@admin.get(
    "/findings/{finding_id}",
    response_model=FindingHistoryOut,
    responses=refuses(_404="No such finding."),
    dependencies=[Requires(OPS_READER)],
)
def get_finding(finding_id: uuid.UUID, parts: PartsDep, checks: ChecksDep) -> FindingHistoryOut:
    """One finding with its timeline: opened, acknowledged, resolved, reopened."""
    finding, events = service.get_finding(parts.db, finding_id)
    (view,) = service.views_of([finding], checks)
    return FindingHistoryOut(
        finding=FindingOut.of(view),
        events=[FindingEventOut.model_validate(event, from_attributes=True) for event in events],
    )


@admin.post(
    "/findings/{finding_id}/acknowledge",
    response_model=FindingOut,
    responses=refuses(
        _404="No such finding.",
        _409="The finding is resolved (`invalid_state`).",
        _422="Invalid input; also `until` in the past or past the longest acknowledgement "
        "(`invalid_range`).",
    ),
)
def acknowledge_finding(
    finding_id: uuid.UUID,
    body: AcknowledgeIn,
    access: Annotated[Access, Requires(PLATFORM_ADMIN)],
    parts: PartsDep,
    checks: ChecksDep,
) -> FindingOut:
    """Someone is on it: the finding stays quiet (`acknowledged`) until `until`, then opens
    again unless its check no longer sees it. Audited."""
    finding = service.acknowledge_finding(
        parts.db,
        finding_id,
        actor=access.user.actor(),
        who=access.user.email,
        reason=body.reason,
        until=body.until,
        max_days=parts.settings.ops_acknowledge_max_days,
    )
    (view,) = service.views_of([finding], checks)
    return FindingOut.of(view)
