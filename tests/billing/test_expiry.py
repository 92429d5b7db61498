"""`subscriptions.expire`: subscriptions past their end are ended, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from darvaza.audit.models import AuditEvent
from darvaza.billing.callbacks import receive_callback
from darvaza.billing.models import Payment, Subscription
from darvaza.billing.subscriptions import cancel_subscription, expire_due_subscriptions
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.billing.support import (
    Shop,
    count_rows,
    open_shop,
    paid_without_callback,
)
from tests.support.concurrency import race
from tests.support.world import SYSTEM

# -- subscriptions.expire ---------------------------------------------------------------


def _subscribe(shop: Shop) -> Subscription:
    order_id, fields = paid_without_callback(shop)
    assert receive_callback(shop.db, shop.gateways, "mock", fields).state == "paid"
    with shop.db.read() as session:
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
        return session.scalars(
            select(Subscription).where(Subscription.user_id == payment.user_id)
        ).one()


def test_expire_ends_subscriptions_past_their_end_once(db: Database) -> None:
    shop = open_shop(db)
    ending = _subscribe(shop)
    cancelled = _subscribe(open_shop_customer(shop))
    cancel_subscription(db, SYSTEM, user_id=cancelled.user_id, subscription_id=cancelled.id)
    later = _subscribe(open_shop_customer(shop))
    with db.transaction() as session:  # the third one still has time left
        session.execute(
            update(Subscription)
            .where(Subscription.id == later.id)
            .values(current_period_end=utcnow() + timedelta(days=90))
        )
    when = utcnow() + timedelta(days=31)
    results: list[dict[str, int]] = []
    race(*[lambda: results.append(expire_due_subscriptions(db, now=when))] * 4)
    assert sum(r["expired"] for r in results) == 1
    assert sum(r["cancelled"] for r in results) == 1
    with db.read() as session:
        states = {s.id: s.state for s in session.scalars(select(Subscription))}
    assert states == {ending.id: "expired", cancelled.id: "cancelled", later.id: "active"}
    assert count_rows(db, AuditEvent, AuditEvent.action == "subscription.expired") == 1
    assert count_rows(db, AuditEvent, AuditEvent.action == "subscription.cancelled") == 2  # + ask
    assert expire_due_subscriptions(db, now=when) == {"expired": 0, "cancelled": 0}


def open_shop_customer(shop: Shop) -> Shop:
    """The same shop with another customer."""
    from tests.support.world import person

    return Shop(shop.db, shop.gateways, shop.tenant, person(shop.db))
