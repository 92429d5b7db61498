"""Payments: the row lock every state change takes, and what customers and tenants see.

The money path follows one rule (pretix's): lock the payment row, re-read its state, act
only if the state still allows it, and write down what happened, in one transaction.
`checkout.py` starts payments; `callbacks.py` settles them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import Session

from darvaza.billing import events
from darvaza.billing.models import PAYMENT, Payment, PaymentEvent
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database, lock_row
from darvaza.errors import NotFound
from darvaza.identity import service as identity
from darvaza.paging import Page, check_range, page_of, read_time_cursor, time_cursor
from darvaza.tenants import service as tenants

# A payment in these states may still be paid; every other state is final.
OPEN_STATES = ("created", "pending")


def lock_payment(session: Session, payment_id: uuid.UUID) -> Payment:
    return lock_row(session, Payment, Payment.id == payment_id, missing="No such payment.")


def move_payment(
    session: Session,
    payment: Payment,
    target: str,
    *,
    event: str,
    message: str,
    failure: tuple[str, str] | None = None,
    **data: Any,
) -> None:
    """The one way a payment changes state: checked against `PAYMENT` (an illegal move is
    refused with 409), stamped, and told on its timeline as `event`. A move to a failed
    state keeps its `failure` (code, message); a move back to an open state or to paid
    clears it."""
    PAYMENT.move(payment, target)
    now = utcnow()
    payment.updated_at = now
    if failure is not None:
        payment.failure_code, payment.failure_message = failure[0][:50], failure[1][:1000]
    elif target in (*OPEN_STATES, "paid"):
        payment.failure_code = payment.failure_message = None
    if target == "paid":
        payment.paid_at = now
    events.record(session, payment, event, message, **data)


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


def payments_of(db: Database, *, user_id: uuid.UUID, limit: int = 50) -> Sequence[Payment]:
    """A customer's own payments, newest first."""
    with db.read() as session:
        return session.scalars(
            select(Payment)
            .where(Payment.user_id == user_id)
            .order_by(Payment.created_at.desc())
            .limit(limit)
        ).all()


def payment_state(db: Database, order_id: str) -> tuple[str, str] | None:
    """For the payer's result page: the payment's state and its tenant's name."""
    with db.read() as session:
        row = session.execute(
            select(Payment.state, Payment.tenant_id).where(Payment.order_id == order_id)
        ).one_or_none()
        if row is None:
            return None
        return row.state, tenants.get_tenant_by_id(session, row.tenant_id).name


@dataclass(frozen=True)
class PaymentFilter:
    """What a list of payments is narrowed to; every field left out matches all."""

    state: str | None = None
    tenant_id: uuid.UUID | None = None
    tenant_slug: str | None = None
    user_id: uuid.UUID | None = None
    gateway: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    stuck_only: bool = False


@dataclass(frozen=True)
class ListedPayment:
    payment: Payment
    user_email: str
    tenant_slug: str
    # Still open past the time a callback or reconciliation should have settled it.
    stuck: bool


def stuck_after(settings: Settings) -> timedelta:
    """How long a payment may stay open: past the reconcile threshold and the gateway's
    verify window, neither the callback nor the worker settled it, and a person must look."""
    return timedelta(
        minutes=settings.payment_reconcile_after_minutes + settings.payment_verify_window_minutes
    )


def _stuck(stuck_after: timedelta, now: datetime) -> ColumnElement[bool]:
    return Payment.state.in_(OPEN_STATES) & (Payment.created_at <= now - stuck_after)


def list_payments(
    db: Database,
    where: PaymentFilter,
    *,
    stuck_after: timedelta,
    limit: int,
    cursor: str | None = None,
) -> Page[ListedPayment]:
    """Payments newest first, each with its payer's email, its tenant's slug and whether
    it is stuck; `next_cursor` pages on."""
    check_range(where.since, where.until)
    now = utcnow()
    stuck = _stuck(stuck_after, now)
    query = (
        select(Payment, stuck.label("stuck"))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit + 1)
    )
    for column, value in (
        (Payment.state, where.state),
        (Payment.tenant_id, where.tenant_id),
        (Payment.user_id, where.user_id),
        (Payment.gateway, where.gateway),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(Payment.created_at >= where.since)
    if where.until is not None:
        query = query.where(Payment.created_at < where.until)
    if where.stuck_only:
        query = query.where(stuck)
    if cursor is not None:
        query = query.where(tuple_(Payment.created_at, Payment.id) < read_time_cursor(cursor))
    with db.read() as session:
        if where.tenant_slug is not None:
            tenant_id = tenants.tenant_id_of(session, where.tenant_slug)
            if tenant_id is None:
                return Page([], None)
            query = query.where(Payment.tenant_id == tenant_id)
        rows = session.execute(query).all()
        emails = identity.emails_by_id(session, {row[0].user_id for row in rows})
        slugs = tenants.slugs_by_id(session, {row[0].tenant_id for row in rows})
    items = [
        ListedPayment(row[0], emails[row[0].user_id], slugs[row[0].tenant_id], bool(row[1]))
        for row in rows
    ]
    return page_of(items, limit, lambda it: time_cursor(it.payment.created_at, it.payment.id))


def payments_needing_attention(db: Database, *, stuck_after: timedelta) -> dict[str, int]:
    """Platform-wide: payments whose amount did not match (`mismatch`) and stuck ones."""
    stuck = _stuck(stuck_after, utcnow())
    with db.read() as session:
        mismatch = session.scalar(select(func.count()).where(Payment.state == "mismatch"))
        stuck_count = session.scalar(select(func.count()).select_from(Payment).where(stuck))
    return {"mismatch": int(mismatch or 0), "stuck": int(stuck_count or 0)}


@dataclass(frozen=True)
class DayOfPayments:
    day: date
    paid: int
    not_paid: int  # failed, cancelled or expired
    paid_rials: int


def payments_per_day(db: Database, *, days: int, zone: tzinfo) -> list[DayOfPayments]:
    """The last `days` days (in `zone`, today included), oldest first: how many payments
    were paid and how many ended unpaid, by the day they were started."""
    now = utcnow().astimezone(zone)
    first = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=zone)
    with db.read() as session:
        rows = session.execute(
            select(Payment.created_at, Payment.state, Payment.amount_rials)
            .where(Payment.created_at >= start)
            .limit(MAX_CHART_ROWS)
        ).all()
    by_day = {first + timedelta(days=n): [0, 0, 0] for n in range(days)}
    for created_at, state, amount in rows:
        moment = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        bucket = by_day.get(moment.astimezone(zone).date())
        if bucket is None:
            continue
        if state == "paid":
            bucket[0] += 1
            bucket[2] += amount
        elif state in ("failed", "cancelled", "expired"):
            bucket[1] += 1
    return [DayOfPayments(day, *counts) for day, counts in by_day.items()]


# A chart reads at most this many rows: it is a glance, not a report.
MAX_CHART_ROWS = 200_000


def payment_states_between(
    session: Session, tenant_ids: Sequence[uuid.UUID] | None, since: datetime, until: datetime
) -> dict[str, int]:
    """How many payments opened in `[since, until)` (for these tenants; None: all) are in
    each state now: what an incident's window did to the money."""
    query = select(Payment.state, func.count()).where(
        Payment.created_at >= since, Payment.created_at < until
    )
    if tenant_ids is not None:
        query = query.where(Payment.tenant_id.in_(tenant_ids))
    rows = session.execute(query.group_by(Payment.state)).all()
    return {state: int(count) for state, count in rows}
