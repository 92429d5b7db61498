"""Tenants' console pages: accepting an invitation; a tenant's people (owners invite and
remove managers); for platform staff, the tenants, a new tenant, and one tenant's owners,
managers and payment gateway."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.config import GatewayName
from darvaza.console.forms import FormFields, FormState, check_form, form_body, once
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, page_refusals, see_other
from darvaza.errors import N_, SPENT_LINK, UNKNOWN_LINK, DarvazaError
from darvaza.http import PartsDep
from darvaza.identity.service import MailedTokens
from darvaza.security.policy import (
    PLATFORM_ADMIN,
    SIGNED_IN,
    TENANT_ADMIN,
    TENANT_DIRECTORY,
    TENANT_OWNER,
    Access,
    Requires,
)
from darvaza.security.roles import TenantRole
from darvaza.tenants import service
from darvaza.tenants.schemas import InvitationAcceptIn, MemberIn, TenantCreateIn

router = APIRouter(prefix="/console", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
SignedInPage = Annotated[Access, Requires(SIGNED_IN.for_pages())]
OwnerPage = Annotated[Access, Requires(TENANT_OWNER.for_pages())]
TenantAdminPage = Annotated[Access, Requires(TENANT_ADMIN.for_pages())]

NAV = [
    NavEntry(N_("Tenant"), N_("Managers"), "/console/t/{tenant}/manage/managers", TENANT_OWNER, 40),
    NavEntry(N_("Platform"), N_("Tenants"), "/console/admin/tenants", TENANT_DIRECTORY, 10),
]


@router.get("/invitations", response_class=HTMLResponse)
def invitation_page(
    request: Request, access: SignedInPage, token: Annotated[str, Query(max_length=100)] = ""
) -> HTMLResponse:
    return pages.render(request, access, "invitation.html", {"token": token, "form": None})


@router.post(
    "/invitations/accept",
    response_class=HTMLResponse,
    openapi_extra=form_body(InvitationAcceptIn),
    responses=page_refusals(
        _403="The invitation is for another address.",
        _404=UNKNOWN_LINK,
        _409="Already staff.",
        _410=SPENT_LINK,
        _422="The link is not one Darvaza made.",
    ),
)
def accept_invitation(
    request: Request, access: SignedInPage, parts: PartsDep, fields: FormFields
) -> HTMLResponse:
    body, form = check_form(InvitationAcceptIn, fields)
    context = {"token": fields.get("token", "")[:100], "form": form}
    if body is None:
        return pages.render(request, access, "invitation.html", context, status_code=422)
    try:
        membership = service.accept_invitation(
            parts.db, user_id=access.user.user_id, email=access.user.email, token=body.token
        )
    except DarvazaError as exc:
        form.refuse(exc)
        return pages.render(
            request, access, "invitation.html", context, status_code=exc.status_code
        )
    return pages.render(
        request, access, "message.html",
        {"heading": N_("Invitation accepted"), "message": N_("You now manage %(tenant)s."),
         "values": {"tenant": membership.tenant.name}, "error": ""},
    )  # fmt: skip


# --- A tenant's people (its owners) -------------------------------------------------------


def _managers(
    request: Request, access: Access, parts: PartsDep, *, form: FormState | None = None,
    invited: str = "", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return pages.render(
        request, access, "managers.html",
        {"tenant": access.tenant, "members": service.list_members(parts.db, access.tenant_id),
         "form": form, "invited": invited},
        status_code=status_code,
    )  # fmt: skip


@router.get("/t/{tenant}/manage/managers", response_class=HTMLResponse)
def managers_page(
    request: Request, access: OwnerPage, parts: PartsDep,
    invited: Annotated[str, Query(max_length=320)] = "",
) -> HTMLResponse:  # fmt: skip
    return _managers(request, access, parts, invited=invited)


@router.post(
    "/t/{tenant}/manage/managers",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(MemberIn),
    responses=page_refusals(_422="The form again, with what is wrong."),
)
def invite_manager(
    request: Request, access: OwnerPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Mail someone a link to become a manager (the same answer whether or not the address
    has an account)."""
    body, form = check_form(MemberIn, fields)
    if body is None:
        return _managers(request, access, parts, form=form, status_code=422)
    where = f"/console/t/{access.tenant_slug}/manage/managers?invited=1"

    def invite() -> str:
        service.invite_manager(
            parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
            email=body.email, invited_by=access.user.user_id,
            links=parts.get(MailedTokens).links,
            ttl=timedelta(days=parts.settings.invitation_ttl_days),
        )  # fmt: skip
        return where

    return see_other(once(parts.db, access.user, fields, invite, pending=where).location)


@router.post(
    "/t/{tenant}/manage/managers/{user_id:uuid}/remove",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(_404="No such manager at this tenant."),
)
def remove_manager(user_id: uuid.UUID, access: OwnerPage, parts: PartsDep) -> Response:
    service.remove_manager(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id, user_id=user_id
    )
    return see_other(f"/console/t/{access.tenant_slug}/manage/managers")


# --- Platform staff: the tenants -------------------------------------------------------


def _tenants(
    request: Request, access: Access, parts: PartsDep, *, after: str | None = None,
    form: FormState | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    found = service.list_tenants(parts.db, limit=101, after=after)
    return pages.render(
        request, access, "tenants.html",
        {"tenants": found[:100], "next": found[99].slug if len(found) > 100 else None,
         "form": form},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/tenants", response_class=HTMLResponse)
def tenants_page(
    request: Request,
    access: Annotated[Access, Requires(TENANT_DIRECTORY.for_pages())],
    parts: PartsDep,
    after: Annotated[str | None, Query(max_length=63, description="slug to continue after")] = None,
) -> HTMLResponse:
    return _tenants(request, access, parts, after=after)


@router.post(
    "/admin/tenants",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(TenantCreateIn),
    responses=page_refusals(
        _409="A tenant has this slug already (the form again).",
        _422="The form again, with what is wrong.",
    ),
)
def create_tenant(
    request: Request,
    access: Annotated[Access, Requires(PLATFORM_ADMIN.for_pages())],
    parts: PartsDep,
    fields: FormFields,
) -> Response:
    body, form = check_form(TenantCreateIn, fields)
    if body is None:
        return _tenants(request, access, parts, form=form, status_code=422)

    def create() -> str:
        tenant = service.create_tenant(
            parts.db, access.user.actor(), slug=body.slug, name=body.name,
            owner_email=body.owner_email,
        )  # fmt: skip
        return f"/console/admin/tenants/{tenant.slug}"

    try:
        done = once(parts.db, access.user, fields, create, pending="/console/admin/tenants")
    except DarvazaError as exc:
        form.refuse(exc)
        return _tenants(request, access, parts, form=form, status_code=exc.status_code)
    return see_other(done.location)


def _tenant(
    request: Request, access: Access, parts: PartsDep, *, form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return pages.render(
        request, access, "tenant.html",
        {"tenant": service.find_tenant(parts.db, access.tenant_slug),
         "members": service.list_members(parts.db, access.tenant_id), "form": form,
         "gateways": [("", N_("The platform default"))]
         + [(gateway.value, gateway.value) for gateway in GatewayName]},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/tenants/{tenant}", response_class=HTMLResponse)
def tenant_page(request: Request, access: TenantAdminPage, parts: PartsDep) -> HTMLResponse:
    return _tenant(request, access, parts)


def _add_member(
    request: Request, access: Access, parts: PartsDep, fields: FormFields, role: TenantRole
) -> Response:
    body, form = check_form(MemberIn, fields)
    if body is None:
        return _tenant(request, access, parts, form=form, status_code=422)
    where = f"/console/admin/tenants/{access.tenant_slug}"

    def add() -> str:
        service.add_member(
            parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
            email=body.email, role=role,
        )  # fmt: skip
        return where

    try:
        return see_other(once(parts.db, access.user, fields, add, pending=where).location)
    except DarvazaError as exc:
        form.refuse(exc)
        return _tenant(request, access, parts, form=form, status_code=exc.status_code)


_MEMBER_REFUSALS = page_refusals(
    _404="No account has this address (the form again).",
    _409="That person has this or a higher role in the tenant already (the form again).",
    _422="The form again, with what is wrong.",
)


@router.post(
    "/admin/tenants/{tenant}/owners",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(MemberIn),
    responses=_MEMBER_REFUSALS,
)
def add_owner(
    request: Request, access: TenantAdminPage, parts: PartsDep, fields: FormFields
) -> Response:
    return _add_member(request, access, parts, fields, TenantRole.OWNER)


@router.post(
    "/admin/tenants/{tenant}/managers",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(MemberIn),
    responses=_MEMBER_REFUSALS,
)
def add_manager(
    request: Request, access: TenantAdminPage, parts: PartsDep, fields: FormFields
) -> Response:
    return _add_member(request, access, parts, fields, TenantRole.MANAGER)
