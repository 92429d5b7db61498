"""The billing API: plans, checkout, the gateways' callback, and what customers, tenants
and platform staff see of payments. The pages (the result page and the mock gateway's
among them) are in `pages/`."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from darvaza.billing import service
from darvaza.billing.schemas import (
    CheckoutIn,
    CheckoutOut,
    GatewayChoiceIn,
    ListedPaymentOut,
    PaymentAttentionOut,
    PaymentDetailOut,
    PaymentEventOut,
    PaymentOut,
    PaymentPageOut,
    PaymentState,
    PlanChangeIn,
    PlanIn,
    PlanOut,
    SubscriberOut,
    SubscriptionOut,
)
from darvaza.config import GatewayName
from darvaza.errors import RATE_LIMITED, refuses
from darvaza.http import PartsDep, client_ip, part
from darvaza.params import IsoTime, PageLimit, TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import (
    AUDIT_READER,
    GATEWAY,
    PUBLIC_TENANT,
    SIGNED_IN,
    TENANT_ADMIN,
    TENANT_CUSTOMER,
    TENANT_STAFF,
    Access,
    Requires,
)
from darvaza.security.ratelimit import RateLimiter, RateRules, RatesDep
from darvaza.tenants.service import set_payment_gateway

tenant_router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["billing"])
me_router = APIRouter(prefix="/api/v1/me", tags=["billing"])
callback_router = APIRouter(tags=["billing"])
admin_router = APIRouter(prefix="/api/v1/admin/tenants/{tenant}", tags=["admin"])
platform_router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], dependencies=[Requires(AUDIT_READER)]
)
GatewaysDep = Annotated[service.GatewayRegistry, part(service.GatewayRegistry)]
routers = (tenant_router, me_router, callback_router, admin_router, platform_router)
# The tenant's staff; and a support admin under a grant that covers the route.
PlansReader = Annotated[Access, Requires(TENANT_STAFF.under_grant("subscriptions"))]
PlanCreator = Annotated[
    Access, Requires(TENANT_STAFF.under_grant("subscriptions", "subscriptions.create_plan"))
]
PlanChanger = Annotated[
    Access, Requires(TENANT_STAFF.under_grant("subscriptions", "subscriptions.update_plan"))
]
PaymentsReader = Annotated[Access, Requires(TENANT_STAFF.under_grant("payments"))]
SignedIn = Annotated[Access, Requires(SIGNED_IN)]


# --- Plans ----------------------------------------------------------------------------------


@tenant_router.get("/plans", response_model=list[PlanOut])
def list_plans(
    access: Annotated[Access, Requires(PUBLIC_TENANT)], parts: PartsDep
) -> list[PlanOut]:
    """The plans on sale."""
    found = service.list_plans(parts.db, access.tenant_id, include_retired=False)
    return [PlanOut.model_validate(p) for p in found]


@tenant_router.get("/plans/all", response_model=list[PlanOut])
def list_all_plans(access: PlansReader, parts: PartsDep) -> list[PlanOut]:
    """Every plan, retired ones included."""
    found = service.list_plans(parts.db, access.tenant_id, include_retired=True)
    return [PlanOut.model_validate(p) for p in found]


@tenant_router.post(
    "/plans",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanOut,
    responses=refuses(_409="The tenant has a plan with this code already."),
)
def create_plan(body: PlanIn, access: PlanCreator, parts: PartsDep) -> PlanOut:
    plan = service.create_plan(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        code=body.code,
        name=body.name,
        price_rials=body.price_rials,
        period_days=body.period_days,
    )
    return PlanOut.model_validate(plan)


@tenant_router.patch("/plans/{plan_id:uuid}", response_model=PlanOut)
def change_plan(
    plan_id: uuid.UUID, body: PlanChangeIn, access: PlanChanger, parts: PartsDep
) -> PlanOut:
    """Edit a plan; `{"active": false}` retires it, `true` brings it back."""
    plan = service.update_plan(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        plan_id=plan_id,
        name=body.name,
        price_rials=body.price_rials,
        period_days=body.period_days,
        active=body.active,
    )
    return PlanOut.model_validate(plan)


# --- Checkout and the gateway's return ---------------------------------------------------


@tenant_router.post(
    "/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutOut,
    responses=refuses(
        _409="The plan is retired: no longer sold.",
        _429=RATE_LIMITED,
        _502="The payment gateway refused or did not answer.",
    ),
)
def start_checkout(
    body: CheckoutIn,
    request: Request,
    access: Annotated[Access, Requires(TENANT_CUSTOMER)],
    parts: PartsDep,
    rates: RatesDep,
    gateways: GatewaysDep,
) -> CheckoutOut:
    """Start paying for a plan: send the customer to `redirect_url`."""
    rates.limiter.hit(rates.rules.checkout_per_user, str(access.user.user_id))
    rates.limiter.hit(rates.rules.checkout_per_ip, client_ip(request))
    started = service.start_checkout(
        parts.db,
        gateways,
        user_id=access.user.user_id,
        email=access.user.email,
        tenant_id=access.tenant_id,
        plan_code=body.plan_code,
        public_url=parts.settings.public_url,
        email_verified=access.user.email_verified
        or not parts.settings.require_verified_email_for_checkout,
    )
    return CheckoutOut(
        payment_id=started.payment_id,
        order_id=started.order_id,
        redirect_url=started.redirect_url,
        amount_rials=started.amount_rials,
        period_days=started.period_days,
    )


async def _callback(gateway: str, request: Request, parts: Parts) -> RedirectResponse:
    ip = client_ip(request)
    parts.get(RateLimiter).hit(parts.get(RateRules).callback_per_ip, ip)
    fields = dict(request.query_params.items())
    if request.method == "POST":
        form = await request.form()
        fields.update({key: value for key, value in form.items() if isinstance(value, str)})
    noise = parts.get(RateRules).anonymous_audit_per_ip
    result = await run_in_threadpool(
        partial(
            service.receive_callback,
            parts.db,
            parts.get(service.GatewayRegistry),
            gateway,
            fields,
            record_rejection=lambda: parts.get(RateLimiter).allow(noise, f"callback_rejected:{ip}"),
        )
    )
    where = f"/payments/result/{result.order_id}" if result.order_id else "/payments/result/unknown"
    return RedirectResponse(where, status_code=status.HTTP_303_SEE_OTHER)


@callback_router.post(
    "/api/v1/payments/callback/{gateway}",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    dependencies=[Requires(GATEWAY)],
    responses=refuses(_429=RATE_LIMITED),
)
async def callback_post(gateway: str, request: Request, parts: PartsDep) -> RedirectResponse:
    """The gateway returns the payer here (IDPay's POST form). Always a redirect to the
    result page, whatever arrived."""
    return await _callback(gateway, request, parts)


@callback_router.get(
    "/api/v1/payments/callback/{gateway}",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    dependencies=[Requires(GATEWAY)],
    responses=refuses(_429=RATE_LIMITED),
)
async def callback_get(gateway: str, request: Request, parts: PartsDep) -> RedirectResponse:
    """The same callback as a GET query (IDPay's other mode, and Zarinpal's)."""
    return await _callback(gateway, request, parts)


# --- What customers and tenants see ------------------------------------------------------


@me_router.get("/payments", response_model=list[PaymentOut])
def my_payments(access: SignedIn, parts: PartsDep, limit: PageLimit = 50) -> list[PaymentOut]:
    found = service.payments_of(parts.db, user_id=access.user.user_id, limit=limit)
    return [PaymentOut.model_validate(p) for p in found]


@me_router.get("/subscriptions", response_model=list[SubscriptionOut])
def my_subscriptions(access: SignedIn, parts: PartsDep) -> list[SubscriptionOut]:
    return [
        SubscriptionOut.of(s) for s in service.subscriptions_of_user(parts.db, access.user.user_id)
    ]


@me_router.post(
    "/subscriptions/{subscription_id:uuid}/cancel",
    response_model=SubscriptionOut,
    responses=refuses(_409="The subscription is not active."),
)
def cancel_my_subscription(
    subscription_id: uuid.UUID, access: SignedIn, parts: PartsDep
) -> SubscriptionOut:
    """Cancel at the end of the paid period."""
    cancelled = service.cancel_subscription(
        parts.db,
        access.user.actor(),
        user_id=access.user.user_id,
        subscription_id=subscription_id,
    )
    return SubscriptionOut.of(cancelled)


@tenant_router.get("/payments", response_model=list[ListedPaymentOut])
def tenant_payments(
    access: PaymentsReader, parts: PartsDep, limit: PageLimit = 50
) -> list[ListedPaymentOut]:
    """The tenant's payments, newest first, with who paid."""
    page = service.list_payments(
        parts.db,
        service.PaymentFilter(tenant_id=access.tenant_id),
        stuck_after=service.stuck_after(parts.settings),
        limit=limit,
    )
    return [ListedPaymentOut.of(listed) for listed in page.items]


@platform_router.get("/payments", response_model=PaymentPageOut)
def platform_payments(
    parts: PartsDep,
    state: Annotated[PaymentState | None, Query()] = None,
    tenant: Annotated[str | None, Query(max_length=63, description="a tenant's slug")] = None,
    gateway: GatewayName | None = None,
    stuck: Annotated[bool, Query(description="only payments still open past their time")] = False,
    since: Annotated[IsoTime | None, Query(description="created at or after")] = None,
    until: Annotated[IsoTime | None, Query(description="created before")] = None,
    limit: PageLimit = 50,
    cursor: TimeCursor = None,
) -> PaymentPageOut:
    """Every tenant's payments, newest first, for platform staff; `attention` counts the
    `mismatch` and stuck ones platform-wide, whatever the filters."""
    page = service.list_payments(
        parts.db,
        service.PaymentFilter(
            state=state,
            tenant_slug=tenant,
            gateway=gateway,
            since=since,
            until=until,
            stuck_only=stuck,
        ),
        stuck_after=service.stuck_after(parts.settings),
        limit=limit,
        cursor=cursor,
    )
    return PaymentPageOut(
        items=[ListedPaymentOut.of(listed) for listed in page.items],
        next_cursor=page.next_cursor,
        attention=_attention(parts),
    )


def _attention(parts: Parts) -> PaymentAttentionOut:
    counts = service.payments_needing_attention(
        parts.db, stuck_after=service.stuck_after(parts.settings)
    )
    return PaymentAttentionOut(**counts)


@tenant_router.get("/payments/{payment_id:uuid}", response_model=PaymentDetailOut)
def tenant_payment(
    payment_id: uuid.UUID, access: PaymentsReader, parts: PartsDep
) -> PaymentDetailOut:
    """One payment with its timeline. Another tenant's payment is unknown here."""
    timeline = service.payment_timeline(parts.db, payment_id=payment_id, tenant_id=access.tenant_id)
    return PaymentDetailOut(
        **PaymentOut.model_validate(timeline.payment).model_dump(),
        events=[PaymentEventOut.model_validate(e) for e in timeline.events],
    )


@tenant_router.get("/subscribers", response_model=list[SubscriberOut])
def tenant_subscribers(
    access: PlansReader, parts: PartsDep, limit: PageLimit = 50
) -> list[SubscriberOut]:
    found = service.subscribers_of_tenant(parts.db, access.tenant_id, limit=limit)
    return [
        SubscriberOut(**SubscriptionOut.of(s).model_dump(), user_email=email) for s, email in found
    ]


@admin_router.put("/gateway", response_model=GatewayChoiceIn)
def choose_gateway(
    body: GatewayChoiceIn, access: Annotated[Access, Requires(TENANT_ADMIN)], parts: PartsDep
) -> GatewayChoiceIn:
    """Send this tenant's customers through another gateway (null: the platform default)."""
    chosen = body.gateway.value if body.gateway else None
    set_payment_gateway(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id, gateway=chosen
    )
    return body
