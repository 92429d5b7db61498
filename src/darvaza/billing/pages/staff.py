"""Billing's pages for a tenant's owners and managers (plans, payments with their
timelines, subscribers) and for platform staff (every tenant's payments, a tenant's
gateway)."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.billing import service
from darvaza.billing.schemas import GatewayChoiceIn, PaymentState, PlanChangeIn, PlanIn
from darvaza.config import GatewayName
from darvaza.console.forms import FormFields, FormState, check_form, form_body, once
from darvaza.console.render import Pages, page_refusals, see_other
from darvaza.errors import DarvazaError
from darvaza.http import PartsDep
from darvaza.params import TimeCursor
from darvaza.security.policy import AUDIT_READER, TENANT_ADMIN, TENANT_STAFF, Access, Requires
from darvaza.tenants import service as tenants

router = APIRouter(tags=["console"])
pages = Pages(Path(__file__).parents[1] / "templates")
StaffPage = Annotated[Access, Requires(TENANT_STAFF.for_pages())]
MANAGE = "/console/t/{tenant}/manage"


def _plans(
    request: Request, access: Access, parts: PartsDep, *, form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    found = service.list_plans(parts.db, access.tenant_id, include_retired=True)
    return pages.render(
        request, access, "manage_plans.html",
        {"tenant": access.tenant, "plans": found, "form": form}, status_code=status_code,
    )  # fmt: skip


@router.get(MANAGE + "/plans", response_class=HTMLResponse)
def plans_page(request: Request, access: StaffPage, parts: PartsDep) -> HTMLResponse:
    return _plans(request, access, parts)


@router.post(
    MANAGE + "/plans",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(PlanIn),
    responses=page_refusals(
        _409="The tenant has a plan with this code already (the form again).",
        _422="The form again, with what is wrong.",
    ),
)
def create_plan(
    request: Request, access: StaffPage, parts: PartsDep, fields: FormFields
) -> Response:
    body, form = check_form(PlanIn, fields)
    if body is None:
        return _plans(request, access, parts, form=form, status_code=422)
    where = f"/console/t/{access.tenant_slug}/manage/plans"

    def create() -> str:
        service.create_plan(
            parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
            code=body.code, name=body.name, price_rials=body.price_rials,
            period_days=body.period_days,
        )  # fmt: skip
        return where

    try:
        return see_other(once(parts.db, access.user, fields, create, pending=where).location)
    except DarvazaError as exc:
        form.refuse(exc)
        return _plans(request, access, parts, form=form, status_code=exc.status_code)


@router.get(
    MANAGE + "/plans/{plan_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404="No such plan at this tenant."),
)
def plan_page(
    plan_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep
) -> HTMLResponse:
    plan = service.get_plan(parts.db, access.tenant_id, plan_id)
    return pages.render(
        request, access, "manage_plan.html", {"tenant": access.tenant, "plan": plan, "form": None}
    )


@router.post(
    MANAGE + "/plans/{plan_id:uuid}",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(PlanChangeIn),
    responses=page_refusals(
        _404="No such plan at this tenant.", _422="The form again, with what is wrong."
    ),
)
def change_plan(
    plan_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Edit a plan; `active` false retires it (no longer sold), true sells it again."""
    body, form = check_form(PlanChangeIn, fields)
    plan = service.get_plan(parts.db, access.tenant_id, plan_id)
    if body is None:
        return pages.render(
            request, access, "manage_plan.html",
            {"tenant": access.tenant, "plan": plan, "form": form}, status_code=422,
        )  # fmt: skip
    service.update_plan(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
        plan_id=plan_id, name=body.name, price_rials=body.price_rials,
        period_days=body.period_days, active=body.active,
    )  # fmt: skip
    return see_other(f"/console/t/{access.tenant_slug}/manage/plans")


# --- Payments and subscribers ------------------------------------------------------------


def _payment_list(
    request: Request, access: Access, parts: PartsDep, where: service.PaymentFilter,
    cursor: str | None, template: str, filters: Mapping[str, str],
) -> HTMLResponse:  # fmt: skip
    stuck_after = service.stuck_after(parts.settings)
    page = service.list_payments(parts.db, where, stuck_after=stuck_after, limit=50, cursor=cursor)
    return pages.render(
        request, access, template,
        {"tenant": access.tenant, "page": page, "filters": filters,
         "states": list(typing.get_args(PaymentState)),
         "gateways": [gateway.value for gateway in GatewayName]},
    )  # fmt: skip


@router.get(MANAGE + "/payments", response_class=HTMLResponse)
def payments_page(
    request: Request, access: StaffPage, parts: PartsDep,
    state: Annotated[PaymentState | Literal[""], Query()] = "", cursor: TimeCursor = None,
) -> HTMLResponse:  # fmt: skip
    where = service.PaymentFilter(tenant_id=access.tenant_id, state=state or None)
    filters = {"state": state}
    return _payment_list(request, access, parts, where, cursor, "payments.html", filters)


def _timeline_page(
    request: Request, access: Access, parts: PartsDep, payment_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
) -> HTMLResponse:  # fmt: skip
    timeline = service.payment_timeline(parts.db, payment_id=payment_id, tenant_id=tenant_id)
    shop = tenants.refs_by_id(parts.db, {timeline.payment.tenant_id}).get(
        timeline.payment.tenant_id
    )
    return pages.render(
        request, access, "payment.html",
        {"tenant": access.tenant, "shop": shop, "payment": timeline.payment,
         "events": timeline.events},
    )  # fmt: skip


@router.get(
    MANAGE + "/payments/{payment_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404="No such payment at this tenant."),
)
def payment_page(
    payment_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep
) -> HTMLResponse:
    """One payment and its timeline; another tenant's payment is unknown here."""
    return _timeline_page(request, access, parts, payment_id, access.tenant_id)


@router.get(MANAGE + "/subscribers", response_class=HTMLResponse)
def subscribers_page(request: Request, access: StaffPage, parts: PartsDep) -> HTMLResponse:
    found = service.subscribers_of_tenant(parts.db, access.tenant_id, limit=200)
    return pages.render(
        request, access, "subscribers.html", {"tenant": access.tenant, "subscribers": found}
    )


# --- Platform staff --------------------------------------------------------------------

AuditPage = Annotated[Access, Requires(AUDIT_READER.for_pages())]


@router.get("/console/admin/payments", response_class=HTMLResponse)
def platform_payments_page(
    request: Request,
    access: AuditPage,
    parts: PartsDep,
    # A filter's "any" is the empty choice, as a form sends it.
    state: Annotated[PaymentState | Literal[""], Query()] = "",
    tenant: Annotated[str, Query(max_length=63, description="a tenant's slug")] = "",
    gateway: Annotated[GatewayName | Literal[""], Query()] = "",
    stuck: bool = False,
    cursor: TimeCursor = None,
) -> HTMLResponse:
    """Every tenant's payments, newest first, with the counts that need a person."""
    where = service.PaymentFilter(
        state=state or None,
        tenant_slug=tenant or None,
        gateway=gateway or None,
        stuck_only=stuck,
    )
    filters = {
        "state": state, "tenant": tenant, "gateway": gateway,
        "stuck": "true" if stuck else "",
    }  # fmt: skip
    return _payment_list(request, access, parts, where, cursor, "platform_payments.html", filters)


@router.get(
    "/console/admin/payments/{payment_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404="No such payment."),
)
def platform_payment_page(
    payment_id: uuid.UUID, request: Request, access: AuditPage, parts: PartsDep
) -> HTMLResponse:
    return _timeline_page(request, access, parts, payment_id, None)


@router.post(
    "/console/admin/tenants/{tenant}/gateway",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(GatewayChoiceIn, blank_is_none=("gateway",)),
    responses=page_refusals(_422="No such gateway."),
)
def choose_gateway(
    request: Request,
    access: Annotated[Access, Requires(TENANT_ADMIN.for_pages())],
    parts: PartsDep,
    fields: FormFields,
) -> Response:
    """Send this tenant's customers through another gateway (empty: the platform default)."""
    body, _ = check_form(GatewayChoiceIn, fields, extra={"gateway": fields.get("gateway") or None})
    if body is None:
        return pages.refusal(request, access, 422, "No such gateway.")
    tenants.set_payment_gateway(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
        gateway=body.gateway.value if body.gateway else None,
    )  # fmt: skip
    return see_other(f"/console/admin/tenants/{access.tenant_slug}")
