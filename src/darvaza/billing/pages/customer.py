"""Billing's pages for customers: a tenant's plans and checkout, the way to the gateway
and back, the mock gateway's own pages, and a customer's subscriptions and payments."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.billing import service
from darvaza.billing.routes import GatewaysDep
from darvaza.billing.schemas import CheckoutIn
from darvaza.console.forms import FormFields, FormState, check_form, form_body, once
from darvaza.console.render import Pages, page_refusals, see_other
from darvaza.errors import HTML_PAGE, N_, RATE_LIMITED, DarvazaError, NotFound
from darvaza.http import PartsDep, client_ip
from darvaza.security.policy import (
    GATEWAY,
    PUBLIC,
    PUBLIC_TENANT,
    SIGNED_IN,
    TENANT_CUSTOMER,
    Access,
    Requires,
)
from darvaza.security.ratelimit import RatesDep
from darvaza.tenants import service as tenants

router = APIRouter(tags=["console"])
pages = Pages(Path(__file__).parents[1] / "templates")
SignedInPage = Annotated[Access, Requires(SIGNED_IN.for_pages())]

# What the payer's result page says, by the payment's state.
RESULT_TEXT = {
    "paid": (N_("Payment received"), N_("Your subscription is active.")),
    "pending": (
        N_("Payment being confirmed"),
        N_("We are confirming your payment with the gateway."),
    ),
    "created": (
        N_("Payment being confirmed"),
        N_("We are confirming your payment with the gateway."),
    ),
    "failed": (N_("Payment did not go through"), N_("Nothing was charged. You can try again.")),
    "cancelled": (N_("Payment cancelled"), N_("Nothing was charged.")),
    "expired": (N_("Payment expired"), N_("Nothing was charged. You can try again.")),
    "mismatch": (
        N_("Payment under review"),
        N_("The gateway's answer did not match our records; we are looking into it."),
    ),
}
NO_PAYMENT = (N_("Payment not found"), N_("We have no such payment."))


# --- A tenant's plans, and checkout -------------------------------------------------------


def _plans_page(
    request: Request, access: Access, parts: PartsDep, *, form: FormState | None = None,
    status_code: int = 200, headers: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    plans = service.list_plans(parts.db, access.tenant_id, include_retired=False)
    subscribed = None
    if access.caller is not None:
        active = [
            s
            for s in service.subscriptions_of_user(parts.db, access.caller.user_id)
            if s.tenant_id == access.tenant_id and s.state == "active"
        ]
        subscribed = active[0] if active else None
    return pages.render(
        request, access, "plans.html",
        {"tenant": access.tenant, "plans": plans, "subscribed": subscribed, "form": form},
        status_code=status_code, headers=headers,
    )  # fmt: skip


@router.get("/console/t/{tenant}/plans", response_class=HTMLResponse)
def plans_page(
    request: Request, access: Annotated[Access, Requires(PUBLIC_TENANT)], parts: PartsDep
) -> HTMLResponse:
    """The plans on sale, with a button to buy each (sign in first)."""
    return _plans_page(request, access, parts)


@router.post(
    "/console/t/{tenant}/checkout",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(CheckoutIn),
    responses=page_refusals(
        _404="No such plan (the plans again).",
        _409="The plan is retired (the plans again).",
        _422="The form again, with what is wrong.",
        _429=RATE_LIMITED,
        _502="The payment gateway refused or did not answer (the plans again).",
    ),
)
def checkout(
    request: Request,
    access: Annotated[Access, Requires(TENANT_CUSTOMER.for_pages())],
    parts: PartsDep,
    rates: RatesDep,
    gateways: GatewaysDep,
    fields: FormFields,
) -> Response:
    """Start paying for a plan, then on to the gateway. A second click on the same form
    goes to the same payment, never a second one."""
    body, form = check_form(CheckoutIn, fields)
    if body is None:
        return _plans_page(request, access, parts, form=form, status_code=422)

    def start() -> str:
        rates.limiter.hit(rates.rules.checkout_per_user, str(access.user.user_id))
        rates.limiter.hit(rates.rules.checkout_per_ip, client_ip(request))
        started = service.start_checkout(
            parts.db, gateways, user_id=access.user.user_id, email=access.user.email,
            tenant_id=access.tenant_id, plan_code=body.plan_code,
            public_url=parts.settings.public_url,
            email_verified=access.user.email_verified
            or not parts.settings.require_verified_email_for_checkout,
        )  # fmt: skip
        return f"/console/t/{access.tenant_slug}/checkout/{started.order_id}"

    try:
        done = once(parts.db, access.user, fields, start, pending=request.url.path)
    except DarvazaError as exc:
        form.refuse(exc)
        return _plans_page(
            request, access, parts, form=form, status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )  # fmt: skip
    return see_other(done.location)


@router.get("/console/t/{tenant}/checkout/{order_id}", response_class=HTMLResponse)
def handoff_page(
    request: Request,
    access: Annotated[Access, Requires(TENANT_CUSTOMER.for_pages())],
    order_id: Annotated[str, PathParam(pattern=r"^dz-[0-9a-f]{24}$")],
) -> HTMLResponse:
    """On the way to the gateway. A form's answer may not lead to another site (the
    content policy's `form-action 'self'` holds for its redirects too), so the checkout
    form leads here, and this page moves on to the gateway by itself."""
    return pages.render(request, access, "handoff.html", {"order_id": order_id})


@router.get(
    "/payments/go/{order_id}",
    status_code=303,
    response_class=RedirectResponse,
    dependencies=[Requires(PUBLIC)],
)
def go_to_gateway(order_id: str, parts: PartsDep) -> RedirectResponse:
    """The checkout's `redirect_url`: sends the payer on to the gateway's page, or to the
    result page once the payment is no longer open."""
    where = service.send_payer_to_gateway(parts.db, order_id)
    if where.gateway_url is not None:
        return RedirectResponse(where.gateway_url, status_code=303)
    if where.order_id is None:
        raise NotFound("No such payment.")
    return RedirectResponse(f"/payments/result/{where.order_id}", status_code=303)


@router.get(
    "/payments/result/{order_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such payment (a page).", "content": HTML_PAGE}},
)
def result_page(
    order_id: str, request: Request, access: Annotated[Access, Requires(PUBLIC)], parts: PartsDep
) -> HTMLResponse:
    """Where the gateway's callback leaves the payer: what became of the payment."""
    found = service.payment_state(parts.db, order_id[:50])
    state, shop = found if found is not None else ("", None)
    heading, message = RESULT_TEXT.get(state, NO_PAYMENT)
    return pages.render(
        request, access, "result.html",
        {"heading": heading, "message": message, "order_id": order_id if found else None,
         "shop": shop, "state": state},
        status_code=200 if found else 404,
    )  # fmt: skip


# --- The mock gateway's pages (the payer's side of the built-in gateway) ----------------


@router.get(
    "/mock-gateway/{payment_id}", response_class=HTMLResponse, responses=page_refusals(_404="")
)
def mock_gateway_page(
    payment_id: str, request: Request, access: Annotated[Access, Requires(GATEWAY)],
    parts: PartsDep,
) -> HTMLResponse:  # fmt: skip
    page = service.find_mock_payment(parts.db, payment_id[:40])
    if page is None:
        raise NotFound("No such mock payment.")
    return pages.render(request, access, "mock_pay.html", {"page": page})


@router.post(
    "/mock-gateway/{payment_id}", response_class=HTMLResponse, responses=page_refusals(_404="")
)
def mock_gateway_settle(
    payment_id: str,
    action: Annotated[str, Form(pattern="^(pay|cancel)$")],
    request: Request,
    access: Annotated[Access, Requires(GATEWAY)],
    parts: PartsDep,
) -> HTMLResponse:
    back = service.settle_mock_payment(parts.db, payment_id[:40], pay=action == "pay")
    if back is None:
        raise NotFound("No such mock payment.")
    return pages.render(request, access, "mock_return.html", {"back": back})


# --- A customer's own subscriptions and payments -------------------------------------------


@router.get("/console/me/subscriptions", response_class=HTMLResponse)
def my_subscriptions(request: Request, access: SignedInPage, parts: PartsDep) -> HTMLResponse:
    found = service.subscriptions_of_user(parts.db, access.user.user_id)
    shops = tenants.refs_by_id(parts.db, {s.tenant_id for s in found})
    return pages.render(
        request, access, "my_subscriptions.html", {"subscriptions": found, "shops": shops}
    )


@router.post(
    "/console/me/subscriptions/{subscription_id:uuid}/cancel",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(
        _404="Not one of your subscriptions.", _409="The subscription is not active."
    ),
)
def cancel_subscription(
    subscription_id: uuid.UUID, access: SignedInPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Cancel at the end of the paid period. The same form sent twice does it once."""

    def cancel() -> str:
        service.cancel_subscription(
            parts.db, access.user.actor(), user_id=access.user.user_id,
            subscription_id=subscription_id,
        )  # fmt: skip
        return "/console/me/subscriptions"

    done = once(parts.db, access.user, fields, cancel, pending="/console/me/subscriptions")
    return see_other(done.location)


@router.get("/console/me/payments", response_class=HTMLResponse)
def my_payments(request: Request, access: SignedInPage, parts: PartsDep) -> HTMLResponse:
    found = service.payments_of(parts.db, user_id=access.user.user_id, limit=200)
    shops = tenants.refs_by_id(parts.db, {p.tenant_id for p in found})
    return pages.render(request, access, "my_payments.html", {"payments": found, "shops": shops})
