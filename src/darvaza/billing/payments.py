"""Payments: the row lock every state change takes, and what customers and tenants see.

The money path follows one rule (pretix's): lock the payment row, re-read its state, act
only if the state still allows it, and write down what happened, in one transaction.
`checkout.py` starts payments; `callbacks.py` settles them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.billing.models import Payment, PaymentEvent
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.errors import NotFound


class ReceiptReused(Exception):
    """A gateway id or receipt that another payment already holds."""


def lock_payment(session: Session, payment_id: uuid.UUID) -> Payment:
    return session.scalars(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update(of=Payment)
        .execution_options(populate_existing=True)
    ).one()


def fail_payment(payment: Payment, state: str, code: str, message: str) -> None:
    payment.state = state
    payment.failure_code = code[:50]
    payment.failure_message = message[:1000]
    payment.updated_at = utcnow()


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
