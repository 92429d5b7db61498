"""Support access grants' pages: the support desk's list and one grant (withdraw it);
a tenant's owners' page of requests, grants and the access log, and their decisions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from darvaza.console.forms import FormFields, FormState, check_form, form_body
from darvaza.console.render import act_once, page_refusals
from darvaza.http import PartsDep
from darvaza.params import TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import (
    Access,
)
from darvaza.support import service
from darvaza.support.pages.common import (
    FORM_AGAIN,
    MANAGE,
    NO_GRANT,
    DeskPage,
    OwnerPage,
    SupporterPage,
    pages,
)
from darvaza.support.schemas import (
    DecisionFormIn,
    ReasonIn,
    ReviewIn,
)

router = APIRouter(prefix="/console", tags=["console"])


# --- Grants: the support desk's ------------------------------------------------------------


@router.get("/support/grants", response_class=HTMLResponse)
def support_grants_page(
    request: Request, access: DeskPage, parts: PartsDep, cursor: TimeCursor = None
) -> HTMLResponse:
    page = service.list_grants(parts.db, limit=50, cursor=cursor)
    return pages.render(
        request, access, "grants.html", {"page": page, "base": "/console/support/grants"}
    )


def _grant(
    request: Request, access: Access, parts: Parts, grant_id: uuid.UUID, *, owner: bool,
    form: FormState | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    tenant_id = access.tenant_id if owner else None
    view = service.get_grant(parts.db, grant_id, tenant_id=tenant_id)
    actions = service.grant_actions(parts.db, tenant_id=tenant_id, grant_id=grant_id, limit=200)
    base = f"/console/t/{access.tenant_slug}/manage/support" if owner else "/console/support/grants"
    return pages.render(
        request, access, "grant.html",
        {"v": view, "actions": actions.items, "owner": owner, "base": base, "form": form},
        status_code=status_code,
    )  # fmt: skip


@router.get(
    "/support/grants/{grant_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404=NO_GRANT),
)
def support_grant_page(
    grant_id: uuid.UUID, request: Request, access: DeskPage, parts: PartsDep
) -> HTMLResponse:
    return _grant(request, access, parts, grant_id, owner=False)


@router.post(
    "/support/grants/{grant_id:uuid}/withdraw",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ReasonIn),
    responses=page_refusals(
        _403="Only its requester withdraws a grant.", _404=NO_GRANT, _409="Already over."
    ),
)
def withdraw_grant(
    grant_id: uuid.UUID, request: Request, access: SupporterPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    body, form = check_form(ReasonIn, fields)

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _grant(request, access, parts, grant_id, owner=False, form=form,
                      status_code=status_code)  # fmt: skip

    if body is None:
        return again(form, 422)
    return act_once(
        parts.db, access, fields, f"/console/support/grants/{grant_id}",
        lambda: service.withdraw_grant(parts.db, access.user, grant_id, body.reason),
        again, form,
    )  # fmt: skip


# --- Grants: the tenant's owners' ----------------------------------------------------------


@router.get(MANAGE + "/support", response_class=HTMLResponse)
def tenant_support_page(request: Request, access: OwnerPage, parts: PartsDep) -> HTMLResponse:
    """Requests waiting for a decision, the grants given, and what was done under them."""
    tenant_id = access.tenant_id
    return pages.render(
        request, access, "tenant_support.html",
        {"tenant": access.tenant,
         "waiting": service.list_grants(parts.db, tenant_id=tenant_id, states=["requested"],
                                        limit=200).items,
         "active": service.list_grants(parts.db, tenant_id=tenant_id, states=["approved"],
                                       limit=200).items,
         "past": service.list_grants(parts.db, tenant_id=tenant_id, limit=50,
                                     states=["denied", "expired", "withdrawn", "ended",
                                             "revoked"]).items,
         "actions": service.grant_actions(parts.db, tenant_id=tenant_id, limit=100).items},
    )  # fmt: skip


@router.get(
    MANAGE + "/support/{grant_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404=NO_GRANT),
)
def tenant_grant_page(
    grant_id: uuid.UUID, request: Request, access: OwnerPage, parts: PartsDep
) -> HTMLResponse:
    return _grant(request, access, parts, grant_id, owner=True)


def _owner_act(request: Request, access: Access, parts: Parts, grant_id: uuid.UUID,
               fields: FormFields, model: type[BaseModel],
               act: Callable[[Any], object]) -> Response:  # fmt: skip
    body, form = check_form(model, fields)

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _grant(request, access, parts, grant_id, owner=True, form=form,
                      status_code=status_code)  # fmt: skip

    if body is None:
        return again(form, 422)
    where = f"/console/t/{access.tenant_slug}/manage/support/{grant_id}"
    return act_once(parts.db, access, fields, where, lambda: act(body), again, form)


DECISION_REFUSALS = page_refusals(
    _404=NO_GRANT, _409="The grant is no longer waiting for this.", _422=FORM_AGAIN
)


@router.post(
    MANAGE + "/support/{grant_id:uuid}/approve",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(DecisionFormIn),
    responses=DECISION_REFUSALS,
)
def approve_grant(
    grant_id: uuid.UUID, request: Request, access: OwnerPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _owner_act(request, access, parts, grant_id, fields, DecisionFormIn, lambda body: (
        service.decide_grant(parts.db, access.user, grant_id, tenant_id=access.tenant_id,
                             approve=True, reason=body.reason,
                             break_glass=body.break_glass == "true")
    ))  # fmt: skip


@router.post(
    MANAGE + "/support/{grant_id:uuid}/deny",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ReasonIn),
    responses=DECISION_REFUSALS,
)
def deny_grant(
    grant_id: uuid.UUID, request: Request, access: OwnerPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _owner_act(request, access, parts, grant_id, fields, ReasonIn, lambda body: (
        service.decide_grant(parts.db, access.user, grant_id, tenant_id=access.tenant_id,
                             approve=False, reason=body.reason)
    ))  # fmt: skip


@router.post(
    MANAGE + "/support/{grant_id:uuid}/revoke",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ReasonIn),
    responses=DECISION_REFUSALS,
)
def revoke_grant(
    grant_id: uuid.UUID, request: Request, access: OwnerPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _owner_act(request, access, parts, grant_id, fields, ReasonIn, lambda body: (
        service.revoke_grant(parts.db, access.user.actor(access.tenant_id), grant_id,
                             tenant_id=access.tenant_id, reason=body.reason)
    ))  # fmt: skip


@router.post(
    MANAGE + "/support/{grant_id:uuid}/review",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ReviewIn),
    responses=DECISION_REFUSALS,
)
def review_grant(
    grant_id: uuid.UUID, request: Request, access: OwnerPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _owner_act(request, access, parts, grant_id, fields, ReviewIn, lambda body: (
        service.review_grant(parts.db, access.user, grant_id, tenant_id=access.tenant_id,
                             note=body.note)
    ))  # fmt: skip
