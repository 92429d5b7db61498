"""The console's home, and the ops pages. Everyone sees where to go from here; platform
staff see first what needs attention now (open findings, dead jobs, workers gone, payments
stuck or mismatched, readiness) and two charts a person would rather look at than read:
payments per day, and the queue's depth over the last day. The ops pages show the summary
(findings worst first with their playbook's first steps, each check's freshness) and one
finding's history; platform admins acknowledge a finding from either."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.billing import service as billing
from darvaza.checks import SEVERITIES, CheckSet
from darvaza.clock import utcnow
from darvaza.console.forms import FormFields, FormState, check_form, form_body
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, act_once, page_refusals
from darvaza.errors import N_
from darvaza.http import PartsDep
from darvaza.jobs import service as jobs
from darvaza.ops import service
from darvaza.ops.routes import ChecksDep
from darvaza.ops.schemas import AcknowledgeFormIn
from darvaza.ops.service import check_readiness
from darvaza.parts import Parts
from darvaza.security.policy import OPS_READER, PLATFORM_ADMIN, SIGNED_IN, Access, Requires

router = APIRouter(prefix="/console", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
CHART_DAYS = 14
CHART_HOURS = 24
ReaderPage = Annotated[Access, Requires(OPS_READER.for_pages())]
AdminPage = Annotated[Access, Requires(PLATFORM_ADMIN.for_pages())]

NAV = [NavEntry(N_("Platform"), N_("Ops summary"), "/console/admin/ops", OPS_READER, 30)]


@dataclass(frozen=True)
class Attention:
    """One thing that needs a person: how many, what it is, where to look."""

    count: int
    what: str
    href: str
    severity: str  # "critical" or "warning"


async def _attention(parts: Parts) -> list[Attention]:
    settings = parts.settings
    findings = service.open_by_severity(parts.db)
    stats = jobs.queue_stats(parts.db, stale_after=settings.worker_stale_after)
    dead = sum(n for (state, _kind), n in stats.by_state_and_kind.items() if state == "dead")
    payments = billing.payments_needing_attention(
        parts.db, stuck_after=billing.stuck_after(settings)
    )
    readiness = await check_readiness(parts.db, settings.readiness_timeout_seconds)
    found = [
        Attention(findings["critical"], N_("open critical findings"), "/console/admin/ops",
                  "critical"),
        Attention(findings["high"], N_("open high findings"), "/console/admin/ops", "critical"),
        Attention(dead, N_("dead jobs"), "/console/admin/jobs?state=dead", "critical"),
        Attention(stats.workers_gone, N_("workers gone silent"), "/console/admin/workers",
                  "critical"),
        Attention(payments["stuck"], N_("payments stuck open"),
                  "/console/admin/payments?stuck=true", "critical"),
        Attention(payments["mismatch"], N_("payments whose amount did not match"),
                  "/console/admin/payments?state=mismatch", "critical"),
        Attention(len(readiness.failing()), N_("readiness checks failing"), "/ready", "critical"),
    ]  # fmt: skip
    if stats.workers_live == 0 and not settings.is_local:
        found.append(Attention(1, N_("no worker running"), "/console/admin/workers", "critical"))
    return [item for item in found if item.count]


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, access: Annotated[Access, Requires(SIGNED_IN.for_pages())], parts: PartsDep
) -> HTMLResponse:
    caller = access.user
    tenants = sorted(
        (
            (caller.tenants[tenant_id], role)
            for tenant_id, role in caller.tenant_roles.items()
            if tenant_id in caller.tenants
        ),
        key=lambda pair: pair[0].name,
    )
    context: dict[str, object] = {"tenants": tenants, "staff": caller.platform_role is not None}
    if caller.platform_role is not None:
        zone = ZoneInfo(parts.settings.console_time_zone)
        context |= {
            "attention": await _attention(parts),
            "days": billing.payments_per_day(parts.db, days=CHART_DAYS, zone=zone),
            "depth": jobs.queue_depth_by_hour(parts.db, hours=CHART_HOURS),
        }
    return pages.render(request, access, "home.html", context)


# --- The ops summary and its findings ----------------------------------------------------


def _summary(
    request: Request, access: Access, parts: PartsDep, checks: CheckSet, *,
    form: FormState | None = None, form_for: uuid.UUID | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    summary = service.ops_summary(parts.db, parts.settings, checks)
    return pages.render(
        request, access, "ops_summary.html",
        {"summary": summary, "counts": summary.counts(), "severities": SEVERITIES,
         "form": form, "form_for": form_for,
         "max_hours": parts.settings.ops_acknowledge_max_days * 24},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/ops", response_class=HTMLResponse)
def ops_summary_page(
    request: Request, access: ReaderPage, parts: PartsDep, checks: ChecksDep
) -> HTMLResponse:
    """What is wrong right now, from the stored findings, as the API's summary says it."""
    return _summary(request, access, parts, checks)


def _finding(
    request: Request, access: Access, parts: PartsDep, checks: CheckSet,
    finding_id: uuid.UUID, *, form: FormState | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    finding, events = service.get_finding(parts.db, finding_id)
    (view,) = service.views_of([finding], checks)
    return pages.render(
        request, access, "ops_finding.html",
        {"view_": view, "finding": finding, "events": list(reversed(events)), "form": form,
         "playbook": service.playbook_text(finding.code),
         "max_hours": parts.settings.ops_acknowledge_max_days * 24},
        status_code=status_code,
    )  # fmt: skip


@router.get(
    "/admin/ops/findings/{finding_id}",
    response_class=HTMLResponse,
    responses=page_refusals(_404="No such finding."),
)
def finding_page(
    finding_id: uuid.UUID, request: Request, access: ReaderPage, parts: PartsDep,
    checks: ChecksDep,
) -> HTMLResponse:  # fmt: skip
    """One finding: what was seen, why it is one finding (its fingerprint's inputs), its
    timeline newest first, and its playbook."""
    return _finding(request, access, parts, checks, finding_id)


@router.post(
    "/admin/ops/findings/{finding_id}/acknowledge",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(AcknowledgeFormIn),
    responses=page_refusals(
        _404="No such finding.",
        _409="The finding is resolved (the page again, saying so).",
        _422="The form again, with what is wrong (also hours past the longest acknowledgement).",
    ),
)
def acknowledge_finding(
    finding_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    checks: ChecksDep, fields: FormFields,
    back: Annotated[
        Literal["summary", "finding"], Query(description="the page to go back to")
    ] = "finding",
) -> Response:  # fmt: skip
    """Someone is on it: quiet for the hours given, with the reason, audited; then back to
    the summary or the finding's page, as `back` says."""
    back_to_summary = back == "summary"

    def again(form: FormState, status_code: int) -> HTMLResponse:
        if back_to_summary:
            return _summary(request, access, parts, checks, form=form, form_for=finding_id,
                            status_code=status_code)  # fmt: skip
        return _finding(request, access, parts, checks, finding_id, form=form,
                        status_code=status_code)  # fmt: skip

    body, form = check_form(AcknowledgeFormIn, fields)
    if body is None:
        return again(form, 422)
    where = "/console/admin/ops" if back_to_summary else f"/console/admin/ops/findings/{finding_id}"

    return act_once(
        parts.db, access, fields, where,
        lambda: service.acknowledge_finding(
            parts.db, finding_id, actor=access.user.actor(), who=access.user.email,
            reason=body.reason, until=utcnow() + timedelta(hours=body.hours),
            max_days=parts.settings.ops_acknowledge_max_days,
        ),
        again, form,
    )  # fmt: skip
