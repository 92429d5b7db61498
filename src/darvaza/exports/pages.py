"""The console's export pages: a tenant's staff ask for CSV exports of the tenant's
payments, subscribers and download log; auditors and platform admins, of the audit log;
everyone sees their own exports (state, rows, size, when each is deleted) and downloads a
ready one through a fresh short-lived link."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from darvaza.console.forms import FormFields, FormState, check_form, form_body
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, act_once, page_refusals, see_other
from darvaza.errors import N_
from darvaza.exports import service
from darvaza.exports.schemas import ExportFormIn
from darvaza.http import PartsDep
from darvaza.security.policy import AUDIT_READER, SIGNED_IN, TENANT_STAFF, Access, Requires

router = APIRouter(tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
SignedInPage = Annotated[Access, Requires(SIGNED_IN.for_pages())]
StaffPage = Annotated[Access, Requires(TENANT_STAFF.for_pages())]
AuditPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]
MINE = "/console/exports"
MANAGE = "/console/t/{tenant}/manage/exports"
SHOWN = 50

NAV = [
    NavEntry(N_("My account"), N_("My exports"), MINE, SIGNED_IN, 30),
    NavEntry(N_("Tenant"), N_("Exports"), MANAGE, TENANT_STAFF, 60),
]


def _mine(
    request: Request, access: Access, parts: PartsDep, *, form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    page = service.list_exports(parts.db, access.user.user_id, limit=SHOWN)
    audit_roles = {role.value for role in service.AUDIT_ROLES}
    role = access.user.platform_role
    return pages.render(
        request, access, "exports.html",
        {"exports": page.items, "may_audit": role is not None and role.value in audit_roles,
         "form": form},
        status_code=status_code, headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@router.get(MINE, response_class=HTMLResponse)
def my_exports_page(request: Request, access: SignedInPage, parts: PartsDep) -> HTMLResponse:
    """Your exports, newest first; a ready one downloads through a fresh link."""
    return _mine(request, access, parts)


@router.post(
    MINE + "/{export_id}/download",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(
        _403="You may no longer take this data out.",
        _404="No export of yours has this id.",
        _409="The export is not ready.",
    ),
)
def download(export_id: uuid.UUID, access: SignedInPage, parts: PartsDep) -> Response:
    """Take a fresh short-lived link to a ready export of yours and follow it."""
    link = service.issue_link(parts.db, parts.settings, export_id, access.user.user_id)
    return see_other(f"/api/v1/exports/{link.token}")


@router.get(MANAGE, response_class=HTMLResponse)
def tenant_exports_page(request: Request, access: StaffPage) -> HTMLResponse:
    """Ask for an export of this tenant's data."""
    return pages.render(request, access, "tenant_exports.html", {"tenant": access.tenant_slug})


def _ask(
    request: Request, access: Access, parts: PartsDep, fields: FormFields, *, tenant: bool
) -> Response:
    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _mine(request, access, parts, form=form, status_code=status_code)

    body, form = check_form(ExportFormIn, fields)
    if body is None:
        return again(form, 422)
    caller = access.user
    tenant_id = access.tenant_id if tenant else None
    dataset = body.dataset if tenant else "audit"
    return act_once(
        parts.db, access, fields, MINE,
        lambda: service.request_export(
            parts.db, caller.actor(tenant_id), user_id=caller.user_id, dataset=dataset,
            tenant_id=tenant_id, grant_id=None, since=body.since, until=body.until,
        ),
        again, form,
    )  # fmt: skip


@router.post(
    MANAGE,
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ExportFormIn, blank_is_none=("since", "until")),
    responses=page_refusals(_422="Your exports' page, with what is wrong."),
)
def ask_tenant_export(
    request: Request, access: StaffPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Ask for a CSV export of this tenant's payments, subscribers or download log."""
    return _ask(request, access, parts, fields, tenant=True)


@router.post(
    "/console/admin/exports/audit",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ExportFormIn, blank_is_none=("dataset", "since", "until")),
    responses=page_refusals(_422="Your exports' page, with what is wrong."),
)
def ask_audit_export(
    request: Request, access: AuditPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Ask for a CSV export of the audit log."""
    return _ask(request, access, parts, fields, tenant=False)
