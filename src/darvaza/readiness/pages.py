"""The console's readiness page, for platform admins and auditors: the verdict, each
proof with its answer, the evidence it read, what blocks it and the command that would
produce what is missing; and the exemptions, which platform admins grant and withdraw."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from darvaza.checks import CheckSet
from darvaza.clock import utcnow
from darvaza.console.forms import FormFields, FormState, check_form, form_body
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, act_once, page_refusals
from darvaza.errors import N_
from darvaza.http import PartsDep, part
from darvaza.ops.alert_routes import AlertRoutes
from darvaza.readiness import service
from darvaza.readiness.schemas import ExemptionFormIn, WithdrawIn
from darvaza.security.policy import AUDIT_READER, PLATFORM_ADMIN, Access, Requires

router = APIRouter(prefix="/console/admin/readiness", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
ReaderPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]
AdminPage = Annotated[Access, Requires(PLATFORM_ADMIN.for_pages())]
ChecksDep = Annotated[CheckSet, part(CheckSet)]
RoutesDep = Annotated[AlertRoutes, part(AlertRoutes)]
HERE = "/console/admin/readiness"
EXEMPTIONS_SHOWN = 50

NAV = [NavEntry(N_("Platform"), N_("Readiness"), HERE, AUDIT_READER, 33)]
ForQuery = Annotated[
    Literal["", "local", "staging", "production"],
    Query(alias="for", description="the profile the claim is for (empty: this one's)"),
]


def _page(
    request: Request, access: Access, parts: PartsDep, checks: CheckSet, routes: AlertRoutes,
    for_profile: str = "", *, form: FormState | None = None, withdraw_form: FormState | None = None,
    withdraw_for: uuid.UUID | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    report = service.readiness_report(
        parts.db, parts.settings, checks, routes, for_profile=for_profile or None
    )
    exemptions = service.list_exemptions(parts.db, limit=EXEMPTIONS_SHOWN)
    proof_options = [
        (proof.key, proof.title)
        for proof in service.PROOFS
        if proof.exemptable(parts.settings.profile.value)
    ]
    return pages.render(
        request, access, "readiness.html",
        {"report": report, "exemptions": exemptions.items, "now": report.generated_at,
         "proof_options": proof_options, "for_profile": for_profile, "form": form,
         "withdraw_form": withdraw_form, "withdraw_for": withdraw_for,
         "max_days": parts.settings.readiness_exemption_max_days},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@router.get("", response_class=HTMLResponse)
def readiness_page(
    request: Request, access: ReaderPage, parts: PartsDep, checks: ChecksDep, routes: RoutesDep,
    for_profile: ForQuery = "",
) -> HTMLResponse:  # fmt: skip
    """The verdict and every proof, with the exemptions."""
    return _page(request, access, parts, checks, routes, for_profile)


@router.post(
    "/exemptions",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ExemptionFormIn),
    responses=page_refusals(
        _422="The form again, with what is wrong (no reason, too many days, a proof that "
        "cannot be exempted here)."
    ),
)
def exempt(
    request: Request, access: AdminPage, parts: PartsDep, checks: ChecksDep, routes: RoutesDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """Let one proof stand exempt for some days, with a reason; audited."""

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _page(request, access, parts, checks, routes, form=form, status_code=status_code)

    body, form = check_form(ExemptionFormIn, fields)
    if body is None:
        return again(form, 422)
    return act_once(
        parts.db, access, fields, HERE,
        lambda: service.exempt_proof(
            parts.db, parts.settings, access.user.actor(), who=access.user.email,
            proof=body.proof, reason=body.reason,
            expires_at=utcnow() + timedelta(days=body.days),
        ),
        again, form,
    )  # fmt: skip


@router.post(
    "/exemptions/{exemption_id}/withdraw",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(WithdrawIn),
    responses=page_refusals(
        _404="No such exemption.",
        _409="It was withdrawn already (the page again, saying so).",
        _422="The form again, with what is wrong.",
    ),
)
def withdraw(
    exemption_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    checks: ChecksDep, routes: RoutesDep, fields: FormFields,
) -> Response:  # fmt: skip
    """End an exemption now; audited."""

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _page(request, access, parts, checks, routes, withdraw_form=form,
                     withdraw_for=exemption_id, status_code=status_code)  # fmt: skip

    body, form = check_form(WithdrawIn, fields)
    if body is None:
        return again(form, 422)
    return act_once(
        parts.db, access, fields, HERE,
        lambda: service.withdraw_exemption(
            parts.db, access.user.actor(), exemption_id, who=access.user.email,
            reason=body.reason,
        ),
        again, form,
    )  # fmt: skip
