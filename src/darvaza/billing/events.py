"""A payment's timeline: every step appends what arrived and what was decided."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from darvaza.audit.service import scrub
from darvaza.billing.models import Payment, PaymentEvent
from darvaza.clock import utcnow


def record(
    session: Session, payment: Payment, kind: str, message: str, **data: Any
) -> PaymentEvent:
    event = PaymentEvent(
        payment_id=payment.id, occurred_at=utcnow(), kind=kind, message=message, data=scrub(data)
    )
    session.add(event)
    return event
