"""Reconciling payments that stayed open: the payer closed the browser before the
callback, the callback never arrived, or Darvaza crashed between recording a payment and
hearing the gateway's answer.

A payment still `pending` after a while whose payer never followed the go link to the
gateway expires at once (nobody can have paid it). Any other is looked up at its gateway
(inquiry) and, when
the gateway says the payer paid, verified and settled through `apply_verification`, the
very function the callback uses, under the same row lock: whichever of a callback and
reconciliation comes first settles it, the other finds it settled. A payment still
`created` after that while never reached its payer (no redirect was handed out), so it
expires. One that the gateway still calls unpaid after `expire_after` expires too.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from darvaza.billing.callbacks import record_gateway_trouble, settle_by_inquiry
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.base import GatewayError, PaymentRef
from darvaza.billing.gateways.idpay import NOT_VERIFIABLE_YET
from darvaza.billing.gateways.zarinpal import NOT_PAID_YET
from darvaza.billing.models import Payment
from darvaza.billing.payments import OPEN_STATES, lock_payment, move_payment
from darvaza.clock import utcnow
from darvaza.db import Database

# Failures that older versions recorded from answers that were not final ("not verifiable
# yet"): while the gateway may still verify, such a payment is asked about again.
RECHECKABLE_FAILURES = frozenset({NOT_VERIFIABLE_YET, NOT_PAID_YET})
BATCH = 100


def reconcile_stale_payments(
    db: Database,
    gateways: GatewayRegistry,
    *,
    older_than: timedelta,
    expire_after: timedelta,
    verify_window: timedelta = timedelta(minutes=10),
    budget: timedelta = timedelta(seconds=45),
    batch: int = BATCH,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Counter[str]:
    """Settle open payments older than `older_than`, oldest first, in batches, until none
    is left or `budget` is spent (the next run goes on where the queue then stands). A
    payment whose payer never followed the go link expires on the spot, without a call to
    the gateway, so a heap of abandoned checkouts costs next to nothing and cannot keep a
    real payment waiting. Then failed payments with a recheckable failure, still inside
    the gateway's verify window, are asked about once more. Counts the states they ended
    in."""
    now = now or utcnow()
    deadline = clock() + budget.total_seconds()
    counts: Counter[str] = Counter()
    after: tuple[datetime, uuid.UUID] | None = None
    while clock() < deadline:
        with db.read() as session:
            query = (
                select(Payment.id, Payment.created_at)
                .where(Payment.state.in_(OPEN_STATES), Payment.created_at <= now - older_than)
                .order_by(Payment.created_at, Payment.id)
                .limit(batch)
            )
            if after is not None:
                query = query.where(tuple_(Payment.created_at, Payment.id) > after)
            rows = session.execute(query).all()
        for payment_id, created_at in rows:
            if clock() >= deadline:
                return counts
            state = reconcile_payment(db, gateways, payment_id, expire_after=expire_after, now=now)
            counts[state] += 1
            after = (created_at, payment_id)
        if len(rows) < batch:
            break
    with db.read() as session:
        recheck = session.scalars(
            select(Payment.id)
            .where(
                Payment.state == "failed",
                Payment.failure_code.in_(RECHECKABLE_FAILURES),
                Payment.created_at > now - verify_window,
            )
            .order_by(Payment.created_at)
            .limit(batch)
        ).all()
    for payment_id in recheck:
        if clock() >= deadline:
            break
        counts[recheck_failed_payment(db, gateways, payment_id)] += 1
    return counts


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
        if payment.sent_to_payer_at is None:
            # Under this row lock the go link can no longer send the payer anywhere.
            _expire(
                session,
                payment,
                "abandoned",
                "The payer never went to the gateway's page; nothing can have been paid.",
            )
            return payment.state
        reference = PaymentRef(payment.order_id, payment.gateway_payment_id, payment.amount_rials)
        gateway_name, age = payment.gateway, now - payment.created_at
        payment.updated_at = now

    try:
        result = settle_by_inquiry(db, gateways.get(gateway_name), payment_id, reference)
    except GatewayError as exc:
        return _inquiry_failed(db, payment_id, exc, expired=age >= expire_after)
    if result.open_at_gateway and age >= expire_after:
        return _expire_if_open(
            db, payment_id, "abandoned", f"Still unpaid at the gateway after {age}."
        )
    return result.state


def recheck_failed_payment(db: Database, gateways: GatewayRegistry, payment_id: uuid.UUID) -> str:
    """Ask again about a payment that failed on an answer that was not final; it becomes
    paid only if the gateway now says the payer paid (and verify agrees)."""
    with db.read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.gateway_payment_id is None:
            return "missing"
        reference = PaymentRef(payment.order_id, payment.gateway_payment_id, payment.amount_rials)
        gateway_name = payment.gateway
    try:
        gateway = gateways.get(gateway_name)
        return settle_by_inquiry(
            db, gateway, payment_id, reference, reopen=RECHECKABLE_FAILURES
        ).state
    except GatewayError as exc:
        return _inquiry_failed(db, payment_id, exc, expired=False)


def _inquiry_failed(
    db: Database, payment_id: uuid.UUID, exc: GatewayError, *, expired: bool
) -> str:
    """An inquiry that failed changes nothing (the gateway may be down, or our key wrong),
    except that a payment the gateway does not know at all expires in time."""
    if exc.code == "52" and expired:
        return _expire_if_open(
            db, payment_id, "unknown_to_gateway", "The gateway has no such payment."
        )
    return record_gateway_trouble(db, payment_id, "reconcile_failed", "Inquiry", exc).state


def _expire(session: Session, payment: Payment, code: str, message: str) -> None:
    move_payment(
        session, payment, "expired", event="expired", message=message, failure=(code, message)
    )


def _expire_if_open(db: Database, payment_id: uuid.UUID, code: str, message: str) -> str:
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        if payment.state in OPEN_STATES:
            _expire(session, payment, code, message)
        return payment.state
