"""Billing's one face: what routes, the CLI and other domains may call. The rules live
in the use-case modules behind it: `plans`, `checkout` (open a payment and send it),
`callbacks` (settle it from the gateway's answer), `reconcile`, `payments` (the lock, the
state table's one move, and the lists), `subscriptions`."""

from __future__ import annotations

from darvaza.billing.callbacks import receive_callback
from darvaza.billing.checkout import send_payer_to_gateway, start_checkout
from darvaza.billing.exports import PAYMENT_HEADER, SUBSCRIBER_HEADER, payment_rows, subscriber_rows
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.mock import find_mock_payment, settle_mock_payment
from darvaza.billing.payments import (
    PaymentFilter,
    list_payments,
    payment_state,
    payment_states_between,
    payment_timeline,
    payments_needing_attention,
    payments_of,
    payments_per_day,
    stuck_after,
)
from darvaza.billing.plans import create_plan, get_plan, list_plans, plan_ids_by_code, update_plan
from darvaza.billing.reconcile import reconcile_stale_payments
from darvaza.billing.subscriptions import (
    active_plan_ids,
    cancel_subscription,
    end_subscriptions,
    expire_due_subscriptions,
    subscribers_of_tenant,
    subscriptions_of_user,
)

__all__ = [
    "PAYMENT_HEADER",
    "SUBSCRIBER_HEADER",
    "GatewayRegistry",
    "PaymentFilter",
    "active_plan_ids",
    "cancel_subscription",
    "create_plan",
    "end_subscriptions",
    "expire_due_subscriptions",
    "find_mock_payment",
    "get_plan",
    "list_payments",
    "list_plans",
    "payment_rows",
    "payment_state",
    "payment_states_between",
    "payment_timeline",
    "payments_needing_attention",
    "payments_of",
    "payments_per_day",
    "plan_ids_by_code",
    "receive_callback",
    "reconcile_stale_payments",
    "send_payer_to_gateway",
    "settle_mock_payment",
    "start_checkout",
    "stuck_after",
    "subscriber_rows",
    "subscribers_of_tenant",
    "subscriptions_of_user",
    "update_plan",
]
