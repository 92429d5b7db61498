"""Probes: liveness, readiness and metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from darvaza import __version__
from darvaza.context import current_request_id
from darvaza.errors import error_body
from darvaza.http import PartsDep, part
from darvaza.jobs.service import WorkerMissing, describe_workers
from darvaza.metrics import Metrics
from darvaza.ops.schemas import CheckOut, HealthOut, ReadinessOut
from darvaza.ops.service import CheckFailed, check_readiness
from darvaza.security.policy import METRICS_SCRAPER, PUBLIC, Requires
from darvaza.security.ratelimit import RatesDep

router = APIRouter(tags=["ops"])
MetricsDep = Annotated[Metrics, part(Metrics)]

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
