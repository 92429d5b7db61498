"""A tenant's payments and subscribers as rows for a CSV export, streamed in batches
(the exports domain writes them; memory holds one batch however many there are)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from darvaza.billing.models import Payment, Plan, Subscription
from darvaza.db import Database
from darvaza.identity import service as identity
from darvaza.paging import keyset_batches

PAYMENT_HEADER = (
    "payment_id", "order_id", "created_at", "paid_at", "state", "amount_rials", "plan",
    "customer_email", "gateway", "gateway_reference", "card_number_masked",
)  # fmt: skip
SUBSCRIBER_HEADER = (
    "subscription_id", "customer_email", "plan", "state", "started_at", "current_period_end",
    "cancel_at_period_end", "cancelled_at",
)  # fmt: skip


def _emails(db: Database, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    with db.read() as session:
        return identity.emails_by_id(session, user_ids)


def payment_rows(
    db: Database, tenant_id: uuid.UUID, since: datetime | None, until: datetime | None
) -> Iterator[tuple[object, ...]]:
    """The tenant's payments made in `[since, until)`, oldest first."""
    query = select(
        Payment.order_id, Payment.paid_at, Payment.state, Payment.amount_rials, Plan.code,
        Payment.user_id, Payment.gateway, Payment.gateway_reference, Payment.card_number_masked,
        Payment.created_at, Payment.id,
    ).join(Plan, Plan.id == Payment.plan_id).where(Payment.tenant_id == tenant_id)  # fmt: skip
    if since is not None:
        query = query.where(Payment.created_at >= since)
    if until is not None:
        query = query.where(Payment.created_at < until)
    for rows in keyset_batches(db, query, (Payment.created_at, Payment.id)):
        emails = _emails(db, {row.user_id for row in rows})
        for row in rows:
            yield (
                row.id, row.order_id, row.created_at, row.paid_at, row.state, row.amount_rials,
                row.code, emails.get(row.user_id, ""), row.gateway, row.gateway_reference,
                row.card_number_masked,
            )  # fmt: skip


def subscriber_rows(
    db: Database, tenant_id: uuid.UUID, since: datetime | None, until: datetime | None
) -> Iterator[tuple[object, ...]]:
    """The tenant's subscriptions started in `[since, until)`, in any state, oldest first."""
    query = select(
        Subscription.user_id, Plan.code, Subscription.state, Subscription.started_at,
        Subscription.current_period_end, Subscription.cancel_at_period_end,
        Subscription.cancelled_at, Subscription.created_at, Subscription.id,
    ).join(Plan, Plan.id == Subscription.plan_id)  # fmt: skip
    query = query.where(Subscription.tenant_id == tenant_id)
    if since is not None:
        query = query.where(Subscription.created_at >= since)
    if until is not None:
        query = query.where(Subscription.created_at < until)
    for rows in keyset_batches(db, query, (Subscription.created_at, Subscription.id)):
        emails = _emails(db, {row.user_id for row in rows})
        for row in rows:
            yield (
                row.id, emails.get(row.user_id, ""), row.code, row.state, row.started_at,
                row.current_period_end, row.cancel_at_period_end, row.cancelled_at,
            )  # fmt: skip
