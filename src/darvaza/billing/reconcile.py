"""Reconciling payments that stayed open: the payer closed the browser before the
callback, the callback never arrived, or Darvaza crashed between recording a payment and
hearing the gateway's answer.

A payment still `pending` after a while is looked up at its gateway (inquiry) and, when
the gateway says the payer paid, verified and settled through `apply_verification`, the
very function the callback uses, under the same row lock: whichever of a callback and
reconciliation comes first settles it, the other finds it settled. A payment still
`created` after that while never reached its payer (no redirect was handed out), so it
expires. One that the gateway still calls unpaid after `expire_after` expires too.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.billing import events
from darvaza.billing.callbacks import apply_verification, record_verify_failure
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.base import GatewayError, Outcome, PaymentRef
from darvaza.billing.models import Payment
from darvaza.billing.payments import fail_payment, lock_payment
from darvaza.clock import utcnow
from darvaza.db import Database

OPEN_STATES = ("created", "pending")


def reconcile_stale_payments(
    db: Database,
    gateways: GatewayRegistry,
    *,
    older_than: timedelta,
    expire_after: timedelta,
    limit: int = 100,
    now: datetime | None = None,
) -> Counter[str]:
    """Look at up to `limit` open payments older than `older_than`, least recently looked
    at first (each look moves `updated_at`), so stubborn ones do not starve the rest.
    Counts the states they ended in."""
    now = now or utcnow()
    with db.read() as session:
        stale = session.scalars(
            select(Payment.id)
            .where(Payment.state.in_(OPEN_STATES), Payment.created_at <= now - older_than)
            .order_by(Payment.updated_at, Payment.id)
            .limit(limit)
        ).all()
    return Counter(
        reconcile_payment(db, gateways, payment_id, expire_after=expire_after, now=now)
        for payment_id in stale
    )


def reconcile_payment(
    db: Database,
    gateways: GatewayRegistry,
    payment_id: uuid.UUID,
    *,
    expire_after: timedelta,
    now: datetime | None = None,
) -> str:
    """Settle one open payment from the gateway's word; returns its state afterwards."""
    now = now or utcnow()
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        if payment.state not in OPEN_STATES:
            return payment.state  # settled since we looked
        if payment.state == "created" or payment.gateway_payment_id is None:
            _expire(
                session,
                payment,
                "never_sent",
                "The gateway never took the payment; no payer saw it.",
            )
            return payment.state
        reference = PaymentRef(payment.order_id, payment.gateway_payment_id, payment.amount_rials)
        gateway_name, age = payment.gateway, now - payment.created_at
        payment.updated_at = now

    try:
        gateway = gateways.get(gateway_name)
        answer = gateway.inquire(reference)
    except GatewayError as exc:
        return _inquiry_failed(db, payment_id, exc, expired=age >= expire_after)
    if answer.outcome in (Outcome.VERIFY, Outcome.PAID):
        # Inquiry is never a substitute for verify: only verify's answer settles.
        try:
            answer = gateway.verify(reference)
        except GatewayError as exc:
            return record_verify_failure(db, payment_id, exc).state
    if answer.outcome is Outcome.PENDING:
        if age < expire_after:
            return "pending"
        return _expire_if_open(
            db, payment_id, "abandoned", f"Still unpaid at the gateway after {age}."
        )
    return apply_verification(db, payment_id, answer).state


def _inquiry_failed(
    db: Database, payment_id: uuid.UUID, exc: GatewayError, *, expired: bool
) -> str:
    """An inquiry that failed changes nothing (the gateway may be down, or our key wrong),
    except that a payment the gateway does not know at all expires in time."""
    if exc.code == "52" and expired:
        return _expire_if_open(
            db, payment_id, "unknown_to_gateway", "The gateway has no such payment."
        )
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        events.record(
            session,
            payment,
            "reconcile_failed",
            f"Inquiry failed: {exc.code} {exc.message}",
            code=exc.code,
            retryable=exc.retryable,
        )
        return payment.state


def _expire(session: Session, payment: Payment, code: str, message: str) -> None:
    fail_payment(payment, "expired", code, message)
    events.record(session, payment, "expired", message)


def _expire_if_open(db: Database, payment_id: uuid.UUID, code: str, message: str) -> str:
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        if payment.state in OPEN_STATES:
            _expire(session, payment, code, message)
        return payment.state
