"""The queue's console pages, for platform staff: jobs (filtered, paged), one job, retry
and cancel (platform admins, with a reason, audited), and the workers."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.console.forms import FormFields, check_form, form_body, once
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, page_refusals, see_other
from darvaza.errors import N_
from darvaza.http import PartsDep
from darvaza.jobs import service
from darvaza.jobs.schemas import JobActionIn, JobState
from darvaza.params import IdCursor, NumericId
from darvaza.security.policy import AUDIT_READER, PLATFORM_ADMIN, Access, Requires

router = APIRouter(prefix="/console/admin", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
ReaderPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]
AdminPage = Annotated[Access, Requires(PLATFORM_ADMIN.for_pages())]

NAV = [
    NavEntry(N_("Platform"), N_("Jobs"), "/console/admin/jobs", AUDIT_READER, 40),
    NavEntry(N_("Platform"), N_("Workers"), "/console/admin/workers", AUDIT_READER, 41),
]


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    access: ReaderPage,
    parts: PartsDep,
    # A filter's "any" is the empty choice, as a form sends it.
    state: Annotated[JobState | Literal[""], Query()] = "",
    kind: Annotated[str, Query(max_length=100)] = "",
    cursor: IdCursor = None,
) -> HTMLResponse:
    """Jobs newest first, by state and kind (`dead` ones are what needs a person)."""
    page = service.list_jobs(
        parts.db,
        service.JobFilter(
            state=state or None,
            kind=kind or None,
            before_id=int(cursor) if cursor else None,
            limit=50,
        ),
    )
    return pages.render(
        request, access, "jobs.html",
        {"page": page, "filters": {"state": state, "kind": kind},
         "states": list(typing.get_args(JobState)), "kinds": service.upkeep_kinds(parts)},
    )  # fmt: skip


@router.get(
    "/jobs/{job_id:int}", response_class=HTMLResponse, responses=page_refusals(_404="No such job.")
)
def job_page(
    job_id: NumericId, request: Request, access: ReaderPage, parts: PartsDep
) -> HTMLResponse:
    return pages.render(request, access, "job.html", {"job": service.get_job(parts.db, job_id)})


def _act(
    request: Request, job_id: int, access: Access, parts: PartsDep, fields: FormFields,
    act: typing.Any,
) -> Response:  # fmt: skip
    body, _ = check_form(JobActionIn, fields)
    if body is None:
        return pages.refusal(request, access, 422, "A reason is at most 500 characters.")
    where = f"/console/admin/jobs/{job_id}"

    def run() -> str:
        act(parts.db, access.user.actor(), job_id, reason=body.reason)
        return where

    return see_other(once(parts.db, access.user, fields, run, pending=where).location)


@router.post(
    "/jobs/{job_id:int}/retry",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(JobActionIn),
    responses=page_refusals(
        _404="No such job.",
        _409="The job is running or succeeded, or its unique key is taken.",
        _422="The reason is too long.",
    ),
)
def retry_job(
    request: Request, job_id: NumericId, access: AdminPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Run a dead or cancelled job again now (audited, with the reason given)."""
    return _act(request, job_id, access, parts, fields, service.retry_job)


@router.post(
    "/jobs/{job_id:int}/cancel",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(JobActionIn),
    responses=page_refusals(
        _404="No such job.",
        _409="Only a queued job can be cancelled.",
        _422="The reason is too long.",
    ),
)
def cancel_job(
    request: Request, job_id: NumericId, access: AdminPage, parts: PartsDep, fields: FormFields
) -> Response:
    return _act(request, job_id, access, parts, fields, service.cancel_job)


@router.get("/workers", response_class=HTMLResponse)
def workers_page(
    request: Request, access: ReaderPage, parts: PartsDep, include_stopped: bool = False
) -> HTMLResponse:
    views = service.list_workers(
        parts.db, stale_after=parts.settings.worker_stale_after, include_stopped=include_stopped
    )
    return pages.render(
        request, access, "workers.html", {"workers": views, "include_stopped": include_stopped}
    )
