"""Billing's one face: what routes, the CLI and other domains may call. The rules live
in the use-case modules behind it: `plans`, `checkout` (open a payment and send it),
`callbacks` (settle it from the gateway's answer), `reconcile`, `payments` (the lock, the
state table's one move, and the lists), `subscriptions`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.billing.callbacks import receive_callback
from darvaza.billing.checkout import send_payer_to_gateway, start_checkout
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.mock import find_mock_payment, settle_mock_payment
from darvaza.billing.models import Plan, Subscription
from darvaza.billing.payments import (
    PaymentFilter,
    list_payments,
    payment_state,
    payment_timeline,
    payments_needing_attention,
    payments_of,
    stuck_after,
)
from darvaza.billing.plans import create_plan, list_plans, update_plan
from darvaza.billing.reconcile import reconcile_stale_payments
from darvaza.billing.subscriptions import (
    cancel_subscription,
    expire_due_subscriptions,
    subscribers_of_tenant,
    subscriptions_of_user,
)


def active_plan_ids(
    session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> frozenset[uuid.UUID]:
    """The plans of this tenant the person holds an active subscription to, right now
    (by the clock, whatever the expiry job has or has not done yet): what entitles them
    to the tenant's content."""
    return frozenset(
        session.scalars(
            select(Subscription.plan_id).where(
                Subscription.tenant_id == tenant_id,
                Subscription.user_id == user_id,
                Subscription.state == "active",
                Subscription.current_period_end > now,
            )
        )
    )


def plan_ids_by_code(
    session: Session, tenant_id: uuid.UUID, codes: Sequence[str]
) -> dict[str, uuid.UUID]:
    """The tenant's plans with these codes (retired ones included), by code."""
    rows = session.execute(
        select(Plan.code, Plan.id).where(Plan.tenant_id == tenant_id, Plan.code.in_(codes))
    )
    return {row.code: row.id for row in rows}


__all__ = [
    "GatewayRegistry",
    "PaymentFilter",
    "active_plan_ids",
    "cancel_subscription",
    "create_plan",
    "expire_due_subscriptions",
    "find_mock_payment",
    "list_payments",
    "list_plans",
    "payment_state",
    "payment_timeline",
    "payments_needing_attention",
    "payments_of",
    "plan_ids_by_code",
    "receive_callback",
    "reconcile_stale_payments",
    "send_payer_to_gateway",
    "settle_mock_payment",
    "start_checkout",
    "stuck_after",
    "subscribers_of_tenant",
    "subscriptions_of_user",
    "update_plan",
]
