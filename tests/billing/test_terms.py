"""The price and period a customer pays for are the ones shown at checkout, whatever the
tenant changes on the plan before the payment settles."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from darvaza.billing.callbacks import receive_callback
from darvaza.billing.checkout import send_payer_to_gateway
from darvaza.billing.gateways.mock import settle_mock_payment
from darvaza.billing.models import Payment, Plan, SubscriptionActivation
from darvaza.billing.plans import update_plan
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.billing.support import open_shop
from tests.support.world import SYSTEM


def test_terms_shown_at_checkout_are_the_terms_activated(db: Database) -> None:
    shop = open_shop(db)
    checkout = shop.checkout()
    assert (checkout.amount_rials, checkout.period_days) == (150_000, 30)
    with db.read() as session:
        plan = session.scalars(select(Plan)).one()
    # While the payer is at the gateway, the tenant doubles the price and cuts the period.
    update_plan(
        db, SYSTEM, tenant_id=shop.tenant.id, plan_id=plan.id, price_rials=300_000, period_days=1
    )
    send_payer_to_gateway(db, checkout.order_id)
    returned = settle_mock_payment(db, checkout.gateway_url.rsplit("/", 1)[1], pay=True)
    assert returned is not None
    assert returned.fields["amount"] == "150000"
    assert receive_callback(db, shop.gateways, "mock", returned.fields).state == "paid"
    with db.read() as session:
        payment = session.scalars(select(Payment)).one()
        activation = session.scalars(select(SubscriptionActivation)).one()
    assert (payment.amount_rials, payment.period_days) == (150_000, 30)
    assert activation.period_end - activation.period_start == timedelta(days=30)
    assert activation.period_end > utcnow() + timedelta(days=29)
    # The next checkout is on the new terms.
    again = shop.checkout()
    assert (again.amount_rials, again.period_days) == (300_000, 1)
