"""Payments: checkout, the gateway's callback, verification, and what the customer and
the tenant see.

The money path follows one rule (pretix's): lock the payment row, re-read its state, act
only if the state still allows it, and write down what happened, in one transaction. No
transaction is held open across a call to the gateway: a slow gateway must not hold the
database. So a callback is read in one short transaction, verified with no transaction
open, and settled in a second one that re-checks the state under the lock; whichever of
many concurrent callbacks settles first wins, and the rest find the payment already paid.
The unique payment id on the activation backs this up in the database itself.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import Actor, append_event, scrub
from darvaza.billing import events
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.base import (
    CallbackRejected,
    CreateRequest,
    GatewayError,
    Outcome,
    PaymentRef,
    Verification,
)
from darvaza.billing.models import Payment, PaymentEvent, Plan
from darvaza.billing.subscriptions import activate_subscription
from darvaza.clock import utcnow
from darvaza.db import Database, flush_unique
from darvaza.errors import Conflict, GatewayFailed, NotFound
from darvaza.tenants.models import Tenant

CALLBACK_PATH = "/api/v1/payments/callback/{gateway}"


def new_order_id() -> str:
    return f"dz-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Checkout:
    payment_id: uuid.UUID
    order_id: str
    redirect_url: str


def _lock(session: Session, payment_id: uuid.UUID) -> Payment:
    return session.scalars(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update(of=Payment)
        .execution_options(populate_existing=True)
    ).one()


def _fail(payment: Payment, state: str, code: str, message: str) -> None:
    payment.state = state
    payment.failure_code = code[:50]
    payment.failure_message = message[:1000]
    payment.updated_at = utcnow()


def start_checkout(
    db: Database,
    gateways: GatewayRegistry,
    *,
    user_id: uuid.UUID,
    email: str,
    tenant: Tenant,
    plan_code: str,
    public_url: str,
) -> Checkout:
    """Create our payment, then ask the gateway to create its own. A gateway that refuses
    or does not answer fails the payment on the spot, with the gateway's code and message:
    no payment is ever left pending without a gateway behind it."""
    now = utcnow()
    gateway_name = tenant.payment_gateway or gateways.default
    with db.transaction() as session:
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
            gateway=gateway_name,
        )
    callback = public_url.rstrip("/") + CALLBACK_PATH.format(gateway=gateway_name)
    try:
        created = gateways.get(gateway_name).create(
            CreateRequest(
                order_id=payment.order_id,
                amount_rials=payment.amount_rials,
                callback_url=callback,
                description=f"{tenant.name}: {plan.name}",
                email=email,
            )
        )
    except GatewayError as exc:
        with db.transaction() as session:
            locked = _lock(session, payment.id)
            _fail(locked, "failed", exc.code, exc.message)
            events.record(
                session,
                locked,
                "send_failed",
                f"The gateway refused: {exc.message}",
                code=exc.code,
                retryable=exc.retryable,
            )
        raise GatewayFailed(
            f"The payment gateway could not start the payment ({exc.code}: {exc.message}). "
            "Nothing was charged; please try again.",
            details=[{"order_id": payment.order_id, "gateway_code": exc.code}],
        ) from None
    with db.transaction() as session:
        locked = _lock(session, payment.id)

        def accept() -> None:
            locked.gateway_payment_id = created.gateway_payment_id
            locked.state = "pending"
            locked.updated_at = utcnow()

        try:
            flush_unique(session, accept, _ReceiptReused())
        except _ReceiptReused:
            locked = _lock(session, payment.id)
            _fail(locked, "failed", "duplicate_gateway_id", "the gateway reused an id")
            events.record(
                session,
                locked,
                "send_failed",
                "The gateway returned an id another payment has.",
                gateway_payment_id=created.gateway_payment_id,
            )
            raise GatewayFailed(
                "The payment gateway answered wrongly; nothing was charged."
            ) from None
        events.record(
            session,
            locked,
            "sent",
            "The gateway accepted the payment.",
            gateway_payment_id=created.gateway_payment_id,
            redirect_url=created.redirect_url,
        )
    return Checkout(payment.id, payment.order_id, created.redirect_url)


class _ReceiptReused(Exception):
    pass


@dataclass(frozen=True)
class CallbackResult:
    """Where to send the payer's browser: the payment's state after the callback."""

    state: str
    order_id: str | None


def receive_callback(
    db: Database, gateways: GatewayRegistry, gateway_name: str, fields: Mapping[str, str]
) -> CallbackResult:
    """Handle a gateway's callback, however often and however concurrently it arrives.

    Nothing in it is trusted: it only says which payment to look at and whether the payer
    says they paid. A callback that names no payment of ours, or a gateway id that is not
    the one on record, changes nothing.
    """
    try:
        gateway = gateways.get(gateway_name)
        data = gateway.read_callback(fields)
    except (GatewayError, CallbackRejected) as exc:
        return _reject_unreadable(db, gateway_name, fields, str(exc))

    with db.transaction() as session:
        query = select(Payment).with_for_update(of=Payment)
        if data.order_id is not None:
            query = query.where(Payment.order_id == data.order_id)
        else:
            query = query.where(
                Payment.gateway == gateway_name,
                Payment.gateway_payment_id == data.gateway_payment_id,
            )
        payment = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
        if payment is None:
            _audit_rejection(session, gateway_name, fields, "no payment of ours has this order")
            return CallbackResult("unknown", None)
        if payment.gateway != gateway_name or payment.gateway_payment_id != data.gateway_payment_id:
            events.record(
                session,
                payment,
                "callback_rejected",
                "The callback's gateway or payment id is not the one on record; ignored.",
                ours={"gateway": payment.gateway, "id": payment.gateway_payment_id},
                theirs={"gateway": gateway_name, "id": data.gateway_payment_id},
            )
            return CallbackResult(payment.state, payment.order_id)
        events.record(
            session,
            payment,
            "callback_received",
            f"Callback with status {data.status} ({data.outcome.value}).",
            fields=data.fields,
        )
        if payment.state != "pending":
            events.record(
                session,
                payment,
                "replay_ignored",
                f"The payment is already {payment.state}; nothing to do.",
            )
            return CallbackResult(payment.state, payment.order_id)
        if data.outcome in (Outcome.FAILED, Outcome.CANCELLED):
            state = "cancelled" if data.outcome is Outcome.CANCELLED else "failed"
            _fail(payment, state, f"status_{data.status}", f"gateway status {data.status}")
            events.record(
                session,
                payment,
                state,
                f"The gateway says {state} (status {data.status}); not verified.",
            )
            return CallbackResult(state, payment.order_id)
        if data.outcome is Outcome.PENDING:
            return CallbackResult(payment.state, payment.order_id)
        # "Awaiting verification" (or, should a gateway ever send it, "paid"): only the
        # gateway's own answer to verify decides.
        reference = PaymentRef(payment.order_id, data.gateway_payment_id, payment.amount_rials)
        payment_id = payment.id

    try:
        verification = gateway.verify(reference)
    except GatewayError as exc:
        return _verify_failed(db, payment_id, exc)
    return apply_verification(db, payment_id, verification)


def apply_verification(
    db: Database, payment_id: uuid.UUID, verification: Verification
) -> CallbackResult:
    """Settle a payment from the gateway's server-to-server answer (a callback's verify, or
    reconciliation's inquiry). Activates only when the gateway says paid and its order id,
    payment id and amount are ours; any disagreement is a mismatch, recorded with both."""
    with db.transaction() as session:
        payment = _lock(session, payment_id)
        events.record(
            session,
            payment,
            "verify_result",
            f"The gateway answered status {verification.status} ({verification.outcome.value}).",
            status=verification.status,
            order_id=verification.order_id,
            gateway_payment_id=verification.gateway_payment_id,
            amount_rials=verification.amount_rials,
            reference=verification.reference,
            already_verified=verification.already_verified,
        )
        if payment.state != "pending":
            events.record(
                session,
                payment,
                "replay_ignored",
                f"The payment is already {payment.state}; nothing to do.",
            )
            return CallbackResult(payment.state, payment.order_id)
        if verification.outcome is not Outcome.PAID:
            if verification.outcome in (Outcome.FAILED, Outcome.CANCELLED):
                state = verification.outcome.value
                _fail(payment, state, f"status_{verification.status}", "per the gateway")
                events.record(session, payment, state, f"The gateway says {state}.")
            return CallbackResult(payment.state, payment.order_id)
        disagreements = _disagreements(payment, verification)
        if disagreements:
            return _mismatch(session, payment, disagreements)

        def keep_receipt() -> None:
            payment.gateway_reference = verification.reference
            payment.card_number_masked = verification.card_masked

        try:
            flush_unique(session, keep_receipt, _ReceiptReused())
        except _ReceiptReused:
            payment = _lock(session, payment_id)
            return _mismatch(
                session,
                payment,
                {"reference": {"ours": "unused", "theirs": verification.reference}},
                why="this receipt already paid another order",
            )
        now = utcnow()
        payment.state, payment.paid_at, payment.updated_at = "paid", now, now
        events.record(
            session, payment, "paid", "Verified and paid.", reference=verification.reference
        )
        activation = activate_subscription(session, payment)
        events.record(
            session,
            payment,
            "activated",
            "Subscription activated.",
            subscription_id=activation.subscription_id,
            period_end=activation.period_end,
        )
        append_event(
            session,
            action="payment.paid",
            actor=Actor.system("billing"),
            tenant_id=payment.tenant_id,
            target_type="payment",
            target_id=payment.id,
            data={
                "order_id": payment.order_id,
                "amount_rials": payment.amount_rials,
                "gateway": payment.gateway,
                "reference": verification.reference,
            },
        )
        return CallbackResult("paid", payment.order_id)


def _disagreements(payment: Payment, verification: Verification) -> dict[str, dict[str, object]]:
    ours: dict[str, object] = {
        "order_id": payment.order_id,
        "gateway_payment_id": payment.gateway_payment_id,
        "amount_rials": payment.amount_rials,
    }
    theirs: dict[str, object] = {
        "order_id": verification.order_id,
        "gateway_payment_id": verification.gateway_payment_id,
        "amount_rials": verification.amount_rials,
    }
    found = {k: {"ours": ours[k], "theirs": theirs[k]} for k in ours if ours[k] != theirs[k]}
    if not verification.reference:
        found["reference"] = {"ours": "a receipt", "theirs": None}
    return found


def _mismatch(
    session: Session,
    payment: Payment,
    disagreements: dict[str, dict[str, object]],
    why: str = "the gateway's answer disagrees with our record",
) -> CallbackResult:
    _fail(payment, "mismatch", "mismatch", why)
    events.record(
        session, payment, "mismatch", f"Not activated: {why}.", disagreements=disagreements
    )
    append_event(
        session,
        action="payment.mismatch",
        actor=Actor.system("billing"),
        tenant_id=payment.tenant_id,
        target_type="payment",
        target_id=payment.id,
        reason=why,
        data={"order_id": payment.order_id, "disagreements": disagreements},
    )
    return CallbackResult("mismatch", payment.order_id)


def _verify_failed(db: Database, payment_id: uuid.UUID, exc: GatewayError) -> CallbackResult:
    """A verify that timed out or failed on the gateway's side leaves the payment pending,
    safe to verify again later; a refusal ("not verifiable", "too late") fails it."""
    with db.transaction() as session:
        payment = _lock(session, payment_id)
        events.record(
            session,
            payment,
            "verify_failed",
            f"Verify failed: {exc.code} {exc.message}",
            code=exc.code,
            retryable=exc.retryable,
        )
        if not exc.retryable and payment.state == "pending":
            _fail(payment, "failed", exc.code, exc.message)
            events.record(session, payment, "failed", "The gateway refused verification.")
        return CallbackResult(payment.state, payment.order_id)


def _reject_unreadable(
    db: Database, gateway_name: str, fields: Mapping[str, str], reason: str
) -> CallbackResult:
    with db.transaction() as session:
        order_id = str(fields.get("order_id", ""))[:50]
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one_or_none()
        if payment is not None:
            events.record(
                session,
                payment,
                "callback_rejected",
                f"Unreadable callback ({reason}); ignored.",
                fields=dict(list(fields.items())[:20]),
            )
            return CallbackResult(payment.state, payment.order_id)
        _audit_rejection(session, gateway_name, fields, reason)
    return CallbackResult("unknown", None)


def _audit_rejection(
    session: Session, gateway_name: str, fields: Mapping[str, str], reason: str
) -> None:
    kept = {str(k)[:40]: str(v)[:200] for k, v in list(fields.items())[:20]}
    append_event(
        session,
        action="payment.callback_rejected",
        actor=Actor.anonymous(),
        target_type="gateway",
        target_id=gateway_name[:50],
        reason=reason[:500],
        data={"fields": scrub(kept)},
    )


# --- Reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    payment: Payment
    events: Sequence[PaymentEvent]


def payment_timeline(
    db: Database,
    *,
    order_id: str | None = None,
    payment_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
) -> Timeline:
    """A payment and its events. With `tenant_id`, another tenant's payment is unknown."""
    with db.read() as session:
        query = select(Payment)
        if order_id is not None:
            query = query.where(Payment.order_id == order_id)
        if payment_id is not None:
            query = query.where(Payment.id == payment_id)
        if tenant_id is not None:
            query = query.where(Payment.tenant_id == tenant_id)
        payment = session.scalars(query).one_or_none()
        if payment is None:
            raise NotFound("No such payment.")
        found = session.scalars(
            select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment.id)
            .order_by(PaymentEvent.id)
        ).all()
        return Timeline(payment, found)


def payments_of(
    db: Database,
    *,
    user_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
    limit: int = 50,
) -> Sequence[Payment]:
    with db.read() as session:
        query = select(Payment).order_by(Payment.created_at.desc()).limit(limit)
        if user_id is not None:
            query = query.where(Payment.user_id == user_id)
        if tenant_id is not None:
            query = query.where(Payment.tenant_id == tenant_id)
        return session.scalars(query).all()


def payment_state(db: Database, order_id: str) -> str | None:
    with db.read() as session:
        return session.scalars(
            select(Payment.state).where(Payment.order_id == order_id)
        ).one_or_none()
