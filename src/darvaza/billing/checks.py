"""Billing's ops checks: money that is stuck, disputed or being probed, and subscribers
kept past their end."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from darvaza.audit.service import count_actions
from darvaza.billing.models import Payment, PaymentEvent, Subscription
from darvaza.billing.payments import OPEN_STATES, stuck_after
from darvaza.checks import Check, CheckContext, Observation, Subject, platform
from darvaza.errors import N_

SAMPLE = 5
# The expiry job runs every five minutes: a subscription past its end longer than two
# runs and a margin was missed.
EXPIRY_SLACK = timedelta(minutes=15)


def stale_pending(context: CheckContext) -> list[Observation]:
    """Payments open past the reconcile threshold and the gateway's verify window, by
    gateway (a gateway that stopped answering strands its payments together)."""
    cutoff = context.now - stuck_after(context.parts.settings)
    stuck = Payment.state.in_(OPEN_STATES) & (Payment.created_at <= cutoff)
    with context.parts.db.read() as session:
        rows = session.execute(
            select(
                Payment.gateway,
                func.count(),
                func.min(Payment.created_at),
                func.count(func.distinct(Payment.tenant_id)),
            )
            .where(stuck)
            .group_by(Payment.gateway)
        ).all()
        samples = {
            gateway: list(
                session.scalars(
                    select(Payment.order_id)
                    .where(stuck, Payment.gateway == gateway)
                    .order_by(Payment.created_at)
                    .limit(SAMPLE)
                )
            )
            for gateway, *_ in rows
        }
    return [
        Observation(
            Subject("gateway", gateway),
            {
                "payments": count,
                "oldest_created_at": oldest.isoformat(),
                "oldest_minutes": round((context.now - oldest).total_seconds() / 60),
                "order_ids": samples[gateway],
            },
            tenants=tenants,
        )
        for gateway, count, oldest, tenants in rows
    ]


def mismatched(context: CheckContext) -> list[Observation]:
    """Each payment whose verified amount, order or status disagreed with ours: money
    may have moved without a subscription, and only a person can settle it."""
    with context.parts.db.read() as session:
        payments = session.execute(
            select(Payment.order_id, Payment.tenant_id, Payment.gateway, Payment.amount_rials,
                   Payment.failure_message, Payment.updated_at)
            .where(Payment.state == "mismatch")
            .order_by(Payment.updated_at)
            .limit(500)
        ).all()  # fmt: skip
    return [
        Observation(
            Subject("payment", row.order_id, str(row.tenant_id)),
            {
                "gateway": row.gateway,
                "amount_rials": row.amount_rials,
                "why": (row.failure_message or "")[:300],
                "since": row.updated_at.isoformat(),
            },
        )
        for row in payments
    ]


def callback_rejections(context: CheckContext) -> list[Observation]:
    """A burst of callbacks we refused (unknown orders, wrong ids, unreadable bodies):
    someone probing the callback route, or a gateway that changed its format."""
    settings = context.parts.settings
    since = context.now - timedelta(minutes=settings.ops_spike_window_minutes)
    with context.parts.db.read() as session:
        on_payments = session.scalar(
            select(func.count()).where(
                PaymentEvent.kind == "callback_rejected", PaymentEvent.occurred_at >= since
            )
        )
    unknown = count_actions(context.parts.db, "payment.callback_rejected", since=since)
    total = int(on_payments or 0) + unknown
    if total < settings.ops_callback_rejections_threshold:
        return []
    details = {
        "rejected": total,
        "naming_our_payments": int(on_payments or 0),
        "naming_no_payment": unknown,
        "window_minutes": settings.ops_spike_window_minutes,
        "threshold": settings.ops_callback_rejections_threshold,
    }
    return [platform(details, name="payment-callbacks")]


def expiry_overdue(context: CheckContext) -> list[Observation]:
    """Subscriptions still active well past their end: the expiry job is not running, or
    failing, and people keep access they no longer pay for."""
    cutoff = context.now - EXPIRY_SLACK
    with context.parts.db.read() as session:
        count, oldest, tenants = session.execute(
            select(
                func.count(),
                func.min(Subscription.current_period_end),
                func.count(func.distinct(Subscription.tenant_id)),
            ).where(Subscription.state == "active", Subscription.current_period_end <= cutoff)
        ).one()
    if not count:
        return []
    details = {"subscriptions": count, "oldest_end": oldest.isoformat()}
    return [Observation(Subject("platform", "subscription-expiry"), details, tenants=tenants)]


CHECKS = (
    Check(
        "payments.stale_pending",
        "critical",
        N_("Payments left open past reconciliation"),
        timedelta(minutes=1),
        stale_pending,
    ),
    Check(
        "payments.mismatch",
        "critical",
        N_("A payment's verification disagreed with our record"),
        timedelta(minutes=1),
        mismatched,
    ),
    Check(
        "payments.callback_rejections",
        "high",
        N_("A spike of rejected gateway callbacks"),
        timedelta(minutes=1),
        callback_rejections,
    ),
    Check(
        "subscriptions.expiry_overdue",
        "high",
        N_("Subscriptions still active past their end"),
        timedelta(minutes=5),
        expiry_overdue,
    ),
)
