"""Operating the queue over HTTP: list jobs and workers (platform admins and auditors),
retry or cancel a job (platform admins; audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from darvaza.errors import refuses
from darvaza.http import PartsDep
from darvaza.jobs import service
from darvaza.jobs.schemas import JobActionIn, JobOut, JobPageOut, JobState, WorkerOut
from darvaza.params import IdCursor, IsoTime, NumericId, PageLimit
from darvaza.security.policy import AUDIT_READER, PLATFORM_ADMIN, Access, Requires

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/jobs", response_model=JobPageOut, dependencies=[Requires(AUDIT_READER)])
def list_jobs(
    parts: PartsDep,
    state: JobState | None = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[IsoTime | None, Query(description="created at or after")] = None,
    until: Annotated[IsoTime | None, Query(description="created before")] = None,
    limit: PageLimit = 50,
    cursor: IdCursor = None,
) -> JobPageOut:
    """Newest first; `next_cursor` pages on."""
    page = service.list_jobs(
        parts.db,
        service.JobFilter(
            state=state,
            kind=kind,
            since=since,
            until=until,
            before_id=int(cursor) if cursor else None,
            limit=limit,
        ),
    )
    return JobPageOut(
        items=[JobOut.model_validate(job) for job in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/jobs/{job_id:int}", response_model=JobOut, dependencies=[Requires(AUDIT_READER)])
def get_job(job_id: NumericId, parts: PartsDep) -> JobOut:
    return JobOut.model_validate(service.get_job(parts.db, job_id))


@router.post("/jobs/enqueue-ops", response_model=dict[str, int | None])
def enqueue_ops(
    access: Annotated[Access, Requires(PLATFORM_ADMIN)], parts: PartsDep
) -> dict[str, int | None]:
    """Enqueue every upkeep job now, once; the new jobs' ids by kind (null: one of that
    kind was already queued or running this way)."""
    return service.enqueue_ops(parts.db, access.user.actor(), service.upkeep_kinds(parts))


@router.post(
    "/jobs/{job_id:int}/retry",
    response_model=JobOut,
    responses=refuses(_409="The job is running or succeeded, or its unique key is taken."),
)
def retry_job(
    job_id: NumericId,
    access: Annotated[Access, Requires(PLATFORM_ADMIN)],
    parts: PartsDep,
    body: Annotated[JobActionIn | None, Body()] = None,
) -> JobOut:
    """Run a dead or cancelled job again now, or a job waiting for its retry at once."""
    reason = body.reason if body else None
    job = service.retry_job(parts.db, access.user.actor(), job_id, reason=reason)
    return JobOut.model_validate(job)


@router.post(
    "/jobs/{job_id:int}/cancel",
    response_model=JobOut,
    responses=refuses(_409="Only a queued job can be cancelled."),
)
def cancel_job(
    job_id: NumericId,
    access: Annotated[Access, Requires(PLATFORM_ADMIN)],
    parts: PartsDep,
    body: Annotated[JobActionIn | None, Body()] = None,
) -> JobOut:
    """Cancel a queued job. A running job is refused (409): it cannot be stopped safely."""
    reason = body.reason if body else None
    job = service.cancel_job(parts.db, access.user.actor(), job_id, reason=reason)
    return JobOut.model_validate(job)


@router.get("/workers", response_model=list[WorkerOut], dependencies=[Requires(AUDIT_READER)])
def list_workers(parts: PartsDep, include_stopped: bool = False) -> list[WorkerOut]:
    """Workers and their heartbeats; `gone` marks one silent past the stale setting."""
    views = service.list_workers(
        parts.db,
        stale_after=parts.settings.worker_stale_after,
        include_stopped=include_stopped,
    )
    return [
        WorkerOut(
            id=v.worker.id,
            host=v.worker.host,
            pid=v.worker.pid,
            queues=v.worker.queues,
            concurrency=v.worker.concurrency,
            state=v.worker.state,
            gone=v.gone,
            started_at=v.worker.started_at,
            last_seen_at=v.worker.last_seen_at,
            jobs_running=v.worker.jobs_running,
            jobs_succeeded=v.worker.jobs_succeeded,
            jobs_failed=v.worker.jobs_failed,
        )
        for v in views
    ]
