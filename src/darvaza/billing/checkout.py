"""Checkout: Darvaza creates its payment, then asks the gateway to create its own."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from darvaza.billing import events
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.base import Created, CreateRequest, GatewayError
from darvaza.billing.models import Payment, Plan
from darvaza.billing.payments import lock_payment, move_payment
from darvaza.clock import utcnow
from darvaza.db import Database, flushed
from darvaza.errors import Conflict, Forbidden, GatewayFailed, NotFound
from darvaza.tenants.service import get_tenant_by_id

CALLBACK_PATH = "/api/v1/payments/callback/{gateway}"
# The payer's way to the gateway: our own link, so we know whether they ever went.
GO_PATH = "/payments/go/{order_id}"


def new_order_id() -> str:
    return f"dz-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Checkout:
    payment_id: uuid.UUID
    order_id: str
    redirect_url: str  # our go link, for the payer
    gateway_url: str  # the gateway's own page, where the go link leads
    amount_rials: int
    period_days: int


def _gateway_detail(order_id: str, code: str) -> dict[str, str]:
    """A gateway's refusal in the one detail shape: its own code, and the order to look up."""
    return {
        "field": "gateway",
        "message": f"order {order_id}: the gateway answered {code}",
        "type": f"gateway_{code}",
    }


def start_checkout(
    db: Database,
    gateways: GatewayRegistry,
    *,
    user_id: uuid.UUID,
    email: str,
    tenant_id: uuid.UUID,
    plan_code: str,
    public_url: str,
    email_verified: bool = True,
) -> Checkout:
    """Create our payment, then ask the gateway to create its own. A gateway that refuses
    or does not answer fails the payment on the spot, with the gateway's code and message:
    no payment is ever left pending without a gateway behind it. A customer whose address
    is not confirmed (`email_verified` False) cannot pay: receipts and resets go there.

    Three steps, each its own transaction or none, so that no transaction spans the
    gateway's call: open our payment, send it to the gateway, then accept the gateway's
    answer or refuse it."""
    if not email_verified:
        raise Forbidden(
            "Confirm your email address before you pay: we sent you a link.",
            code="email_not_verified",
        )
    opened = _open_payment(db, gateways, user_id=user_id, tenant_id=tenant_id, plan_code=plan_code)
    payment = opened.payment
    callback = public_url.rstrip("/") + CALLBACK_PATH.format(gateway=payment.gateway)
    request = CreateRequest(
        order_id=payment.order_id,
        amount_rials=payment.amount_rials,
        callback_url=callback,
        description=opened.description,
        email=email,
    )
    try:
        created = gateways.get(payment.gateway).create(request)
    except GatewayError as exc:
        with db.transaction() as session:
            move_payment(
                session, lock_payment(session, payment.id), "failed", event="send_failed",
                message=f"The gateway refused: {exc.message}", failure=(exc.code, exc.message),
                code=exc.code, retryable=exc.retryable,
            )  # fmt: skip
        raise GatewayFailed(
            f"The payment gateway could not start the payment ({exc.code}: {exc.message}). "
            "Nothing was charged; please try again.",
            details=[_gateway_detail(payment.order_id, exc.code)],
        ) from None
    _accept(db, payment.id, created)
    go = public_url.rstrip("/") + GO_PATH.format(order_id=payment.order_id)
    return Checkout(
        payment.id,
        payment.order_id,
        go,
        created.redirect_url,
        payment.amount_rials,
        payment.period_days,
    )


@dataclass(frozen=True)
class _Opened:
    payment: Payment
    description: str  # what the payer sees at the gateway


def _open_payment(
    db: Database,
    gateways: GatewayRegistry,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    plan_code: str,
) -> _Opened:
    """Our payment, `created`, at the plan's price now, through the tenant's gateway."""
    now = utcnow()
    with db.transaction() as session:
        tenant = get_tenant_by_id(session, tenant_id)
        gateway_name = tenant.payment_gateway or gateways.default
        plan = session.scalars(
            select(Plan).where(Plan.tenant_id == tenant.id, Plan.code == plan_code)
        ).one_or_none()
        if plan is None:
            raise NotFound("No such plan.")
        if not plan.active:
            raise Conflict("This plan is no longer sold.", code="plan_retired")
        payment = Payment(
            order_id=new_order_id(),
            tenant_id=tenant.id,
            user_id=user_id,
            plan_id=plan.id,
            amount_rials=plan.price_rials,
            period_days=plan.period_days,
            gateway=gateway_name,
            state="created",
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
        session.flush()
        events.record(
            session,
            payment,
            "created",
            f"Checkout for plan {plan.code} started.",
            plan=plan.code,
            amount_rials=plan.price_rials,
            period_days=plan.period_days,
            gateway=gateway_name,
        )
        return _Opened(payment, f"{tenant.name}: {plan.name}")


def _accept(db: Database, payment_id: uuid.UUID, created: Created) -> None:
    """The gateway made its payment: ours is `pending`, unless the gateway handed back an
    id another payment already has (then ours fails: it cannot be told apart)."""
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)

        def keep_ids() -> None:
            payment.gateway_payment_id = created.gateway_payment_id
            payment.gateway_url = created.redirect_url

        if flushed(session, keep_ids):
            move_payment(
                session,
                payment,
                "pending",
                event="sent",
                message="The gateway accepted the payment.",
                gateway_payment_id=created.gateway_payment_id,
                redirect_url=created.redirect_url,
            )
            return
        payment = lock_payment(session, payment_id)  # read again: the savepoint rolled back
        move_payment(
            session, payment, "failed", event="send_failed",
            message="The gateway returned an id another payment has.",
            failure=("duplicate_gateway_id", "the gateway reused an id"),
            gateway_payment_id=created.gateway_payment_id,
        )  # fmt: skip
    # Raised once the refusal is committed, so that it stays on the payment's timeline.
    raise GatewayFailed("The payment gateway answered wrongly; nothing was charged.")


@dataclass(frozen=True)
class Destination:
    """Where the go link sends the payer: the gateway's page, or the result page."""

    gateway_url: str | None
    order_id: str | None


def send_payer_to_gateway(db: Database, order_id: str) -> Destination:
    """The payer follows the go link: note it, and send them to the gateway's page. A
    payment that is no longer open (paid, expired as abandoned, ...) sends them to its
    result page instead, so an abandoned payment can never be paid after it expired."""
    with db.transaction() as session:
        payment_id = session.scalars(
            select(Payment.id).where(Payment.order_id == order_id[:50])
        ).one_or_none()
        if payment_id is None:
            return Destination(None, None)
        payment = lock_payment(session, payment_id)
        if payment.state != "pending" or payment.gateway_url is None:
            return Destination(None, payment.order_id)
        if payment.sent_to_payer_at is None:
            payment.sent_to_payer_at = utcnow()
            events.record(session, payment, "sent_to_payer", "The payer went to the gateway.")
        return Destination(payment.gateway_url, payment.order_id)
