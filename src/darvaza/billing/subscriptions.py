"""Subscriptions: what a paid payment activates, and what "active now" means."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.billing.models import SUBSCRIPTION, Payment, Subscription, SubscriptionActivation
from darvaza.clock import utcnow
from darvaza.db import Database, flushed, lock_row, lock_row_if_any
from darvaza.errors import Conflict
from darvaza.identity import service as identity
from darvaza.security.caller import Actor


def is_active(subscription: Subscription, now: datetime | None = None) -> bool:
    """Active by the clock, whatever the expiry job has or has not done yet."""
    return subscription.state == "active" and subscription.current_period_end > (now or utcnow())


def activate_subscription(session: Session, payment: Payment) -> SubscriptionActivation:
    """Give the payment's period to its customer, inside the transaction that marks the
    payment paid (the caller holds the payment's row lock).

    A renewal extends from the later of now and the current end. The unique payment id on
    the activation is the database's guarantee that this happens once per payment.
    """
    # Long because: the steps of an activation share the payment's lock and the
    # transaction that makes it happen exactly once; apart they would hide that.
    now = utcnow()
    subscription = _lock_subscription(session, payment)
    if subscription is None:
        subscription = Subscription(
            tenant_id=payment.tenant_id,
            user_id=payment.user_id,
            plan_id=payment.plan_id,
            state="active",
            started_at=now,
            current_period_end=now,
            cancel_at_period_end=False,
            created_at=now,
            updated_at=now,
        )
        new = subscription
        if not flushed(session, lambda: session.add(new)):
            # Another payment of the same customer and plan made the row first.
            if subscription in session:
                session.expunge(subscription)
            subscription = _lock_subscription(session, payment)
            assert subscription is not None  # noqa: S101 (the unique row exists now)
    start = max(now, subscription.current_period_end)
    end = start + timedelta(days=payment.period_days)
    was = subscription.state
    if was != "active":  # a renewal of an active one extends it: no change of state
        # Its record is the payment's timeline ("activated"), written by the settlement.
        move_subscription(session, subscription, "active", now, actor=None)
    subscription.current_period_end = end
    subscription.cancel_at_period_end = False
    subscription.cancelled_at = None
    subscription.updated_at = now
    activation = SubscriptionActivation(
        subscription_id=subscription.id,
        payment_id=payment.id,
        period_start=start,
        period_end=end,
        created_at=now,
    )
    session.add(activation)
    session.flush()
    append_event(
        session,
        action="subscription.activated",
        actor=Actor.system("billing"),
        tenant_id=payment.tenant_id,
        target_type="subscription",
        target_id=subscription.id,
        data={
            "order_id": payment.order_id,
            "user_id": payment.user_id,
            "plan": payment.plan.code,
            "period_start": start,
            "period_end": end,
            "renewal": was != "active" or start > now,
        },
    )
    return activation


def _lock_subscription(session: Session, payment: Payment) -> Subscription | None:
    return lock_row_if_any(
        session,
        Subscription,
        Subscription.tenant_id == payment.tenant_id,
        Subscription.user_id == payment.user_id,
        Subscription.plan_id == payment.plan_id,
    )


def move_subscription(
    session: Session, subscription: Subscription, target: str, now: datetime, *, actor: Actor | None
) -> None:
    """The one way a subscription changes state: checked against `SUBSCRIPTION`, stamped,
    and audited as `subscription.<state>` by `actor` (None where another record tells the
    move, as the payment's timeline tells an activation)."""
    SUBSCRIPTION.move(subscription, target)
    subscription.updated_at = now
    if actor is not None:
        append_event(
            session,
            action=f"subscription.{target}",
            actor=actor,
            tenant_id=subscription.tenant_id,
            target_type="subscription",
            target_id=subscription.id,
            data={
                "user_id": subscription.user_id,
                "period_end": subscription.current_period_end,
                "cancelled_by_customer": subscription.cancel_at_period_end,
            },
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


def cancel_subscription(
    db: Database, actor: Actor, *, user_id: uuid.UUID, subscription_id: uuid.UUID
) -> Subscription:
    """The customer cancels: the subscription stays active until its period ends."""
    with db.transaction() as session:
        subscription = lock_row(
            session,
            Subscription,
            Subscription.id == subscription_id,
            Subscription.user_id == user_id,
            missing="No such subscription.",
        )
        if not is_active(subscription):
            raise Conflict("This subscription is not active.", code="not_active")
        if subscription.cancel_at_period_end:
            return subscription
        now = utcnow()
        subscription.cancel_at_period_end = True
        subscription.cancelled_at = now
        subscription.updated_at = now
        append_event(
            session,
            action="subscription.cancelled",
            actor=actor,
            tenant_id=subscription.tenant_id,
            target_type="subscription",
            target_id=subscription.id,
            data={"effective_at": subscription.current_period_end},
        )
    return subscription


def end_subscriptions(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> int:
    """End these people's active subscriptions to the tenant now (`cancelled`), each
    audited: how the smoke checks' tenant starts every run from no subscription. How many
    ended."""
    now = utcnow()
    with db.transaction() as session:
        rows = session.scalars(
            select(Subscription)
            .where(
                Subscription.tenant_id == tenant_id,
                Subscription.user_id.in_(list(user_ids)),
                Subscription.state == "active",
            )
            .order_by(Subscription.id)
            .with_for_update()
        ).all()
        for subscription in rows:
            subscription.cancelled_at = now
            move_subscription(session, subscription, "cancelled", now, actor=actor)
    return len(rows)


def subscriptions_of_user(db: Database, user_id: uuid.UUID) -> Sequence[Subscription]:
    with db.read() as session:
        return session.scalars(
            select(Subscription)
            .where(Subscription.user_id == user_id)
            .order_by(Subscription.created_at.desc())
        ).all()


def subscribers_of_tenant(
    db: Database, tenant_id: uuid.UUID, *, limit: int
) -> list[tuple[Subscription, str]]:
    """The tenant's subscriptions, latest ending first, each with its subscriber's email."""
    with db.read() as session:
        found = session.scalars(
            select(Subscription)
            .where(Subscription.tenant_id == tenant_id)
            .order_by(Subscription.current_period_end.desc())
            .limit(limit)
        ).all()
        emails = identity.emails_by_id(session, {s.user_id for s in found})
    return [(subscription, emails[subscription.user_id]) for subscription in found]


def expire_due_subscriptions(
    db: Database, *, now: datetime | None = None, batch: int = 200
) -> dict[str, int]:
    """End every active subscription whose period is over: `cancelled` when its customer
    had cancelled, else `expired`, each with an audit event. Rows are taken with SKIP
    LOCKED on PostgreSQL, so two runs at once split the work, and a renewal holding a row
    settles first; each batch is its own transaction."""
    now = now or utcnow()
    ended: dict[str, int] = {"expired": 0, "cancelled": 0}
    while True:
        with db.transaction() as session:
            due = session.scalars(
                select(Subscription)
                .where(Subscription.state == "active", Subscription.current_period_end <= now)
                .order_by(Subscription.current_period_end, Subscription.id)
                .limit(batch)
                .with_for_update(of=Subscription, skip_locked=True)
                .execution_options(populate_existing=True)
            ).all()
            for subscription in due:
                state = "cancelled" if subscription.cancel_at_period_end else "expired"
                move_subscription(session, subscription, state, now, actor=Actor.system("jobs"))
                ended[state] += 1
        if len(due) < batch:
            return ended
