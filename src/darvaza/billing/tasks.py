"""Billing's work for the worker: reconciling payments whose callback never came, and
expiring subscriptions past their end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.reconcile import reconcile_stale_payments
from darvaza.billing.subscriptions import expire_due_subscriptions
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic


def reconcile_payments(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    settings = context.settings
    return dict(
        reconcile_stale_payments(
            context.db,
            context.parts.get(GatewayRegistry),
            older_than=timedelta(minutes=settings.payment_reconcile_after_minutes),
            expire_after=timedelta(minutes=settings.payment_expire_after_minutes),
            verify_window=timedelta(minutes=settings.payment_verify_window_minutes),
        )
    )


def expire_subscriptions(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return expire_due_subscriptions(context.db)


TASKS = Tasks(
    kinds=(
        JobKind("payments.reconcile", reconcile_payments, timeout=timedelta(minutes=5)),
        JobKind("subscriptions.expire", expire_subscriptions, timeout=timedelta(minutes=10)),
    ),
    schedule=(
        Periodic("payments.reconcile", every=timedelta(minutes=1)),
        Periodic("subscriptions.expire", every=timedelta(minutes=5)),
    ),
)
