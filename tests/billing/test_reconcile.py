"""`payments.reconcile`: payments whose callback never came are settled by asking the
gateway, verified before they are believed, and expired when they were never paid."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import httpx
import pytest
from sqlalchemy import select, update
from starlette.types import ASGIApp

from darvaza.audit.models import AuditEvent
from darvaza.billing.callbacks import receive_callback
from darvaza.billing.checkout import send_payer_to_gateway
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.models import Payment, PaymentEvent, SubscriptionActivation
from darvaza.billing.reconcile import reconcile_payment, reconcile_stale_payments
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.billing.support import (
    Shop,
    count_rows,
    open_shop,
    paid_without_callback,
    payment_by_order,
)
from tests.support.concurrency import race
from tests.support.fake_gateways import FakeIdPay


@pytest.fixture
def idpay(serve: Callable[[ASGIApp], str]) -> tuple[FakeIdPay, str]:
    fake = FakeIdPay()
    return fake, serve(fake.app) + "/v1.1"


RECONCILE = {"expire_after": timedelta(minutes=60)}
SOON = timedelta(minutes=5)


# -- payments.reconcile -----------------------------------------------------------------


def test_reconcile_settles_a_payment_whose_callback_never_came(db: Database) -> None:
    shop = open_shop(db)
    order_id, _ = paid_without_callback(shop)
    unpaid = shop.checkout().order_id
    send_payer_to_gateway(db, unpaid)  # the payer is at the gateway's page, not paying yet
    # Not old enough yet: left alone.
    assert reconcile_stale_payments(db, shop.gateways, older_than=SOON, **RECONCILE) == {}
    counts = reconcile_stale_payments(
        db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE
    )
    assert counts == {"paid": 1, "pending": 1}
    assert payment_by_order(db, order_id).state == "paid"
    assert payment_by_order(db, unpaid).state == "pending"  # the payer may still pay
    assert count_rows(db, SubscriptionActivation) == 1
    # Again: nothing changes, nothing activates twice.
    reconcile_stale_payments(db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE)
    assert count_rows(db, SubscriptionActivation) == 1
    # Past the expiry window, the unpaid one expires.
    late = utcnow() + timedelta(minutes=61)
    assert reconcile_stale_payments(db, shop.gateways, older_than=SOON, now=late, **RECONCILE) == {
        "expired": 1
    }
    assert payment_by_order(db, unpaid).state == "expired"


def test_reconcile_and_a_callback_racing_activate_once(db: Database) -> None:
    shop = open_shop(db)
    for _ in range(8):
        order_id, fields = paid_without_callback(shop)
        payment_id = payment_by_order(db, order_id).id
        race(
            partial(receive_callback, db, shop.gateways, "mock", fields),
            partial(reconcile_payment, db, shop.gateways, payment_id, expire_after=SOON),
        )
        assert payment_by_order(db, order_id).state == "paid"
    assert count_rows(db, SubscriptionActivation) == 8
    assert count_rows(db, AuditEvent, AuditEvent.action == "payment.paid") == 8


def test_reconcile_expires_a_payment_that_never_reached_the_gateway(db: Database) -> None:
    shop = open_shop(db)
    order_id = shop.checkout().order_id
    with db.transaction() as session:  # as if we crashed before the gateway answered
        session.execute(
            update(Payment)
            .where(Payment.order_id == order_id)
            .values(state="created", gateway_payment_id=None)
        )
    counts = reconcile_stale_payments(
        db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE
    )
    assert counts == {"expired": 1}
    payment = payment_by_order(db, order_id)
    assert (payment.state, payment.failure_code) == ("expired", "never_sent")


def test_reconcile_through_idpay_verifies_and_survives_an_outage(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = open_shop(
        db, gateway="idpay", idpay_api_key="k" * 36, idpay_base_url=url, gateway_timeout_seconds=1.0
    )
    checkout = shop.checkout()
    send_payer_to_gateway(db, checkout.order_id)
    payment = payment_by_order(db, checkout.order_id)
    assert payment.gateway == "idpay"
    fake.pay(payment.gateway_payment_id or "")
    # IDPay down: the payment stays pending, and the failure is on its timeline.
    down = GatewayRegistry(shop.gateways.settings, db, transport=_refusing_transport())
    state = reconcile_payment(db, down, payment.id, expire_after=timedelta(hours=1))
    assert state == "pending"
    with db.read() as session:
        kinds = session.scalars(
            select(PaymentEvent.kind).where(PaymentEvent.payment_id == payment.id)
        ).all()
    assert "reconcile_failed" in kinds
    # Back up: inquiry says "awaiting verification", verify says 100, paid.
    assert (
        reconcile_payment(db, shop.gateways, payment.id, expire_after=timedelta(hours=1)) == "paid"
    )
    assert fake.verify_calls() == 1
    assert count_rows(db, SubscriptionActivation) == 1


def _idpay_shop(db: Database, url: str) -> Shop:
    return open_shop(
        db, gateway="idpay", idpay_api_key="k" * 36, idpay_base_url=url, gateway_timeout_seconds=1.0
    )


def _inquiries(fake: FakeIdPay) -> int:
    return sum(1 for kind, _ in fake.calls if kind == "inquiry")


def test_a_checkout_the_payer_never_followed_expires_without_asking(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    order_id = shop.checkout().order_id
    counts = reconcile_stale_payments(
        db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE
    )
    assert counts == {"expired": 1}
    payment = payment_by_order(db, order_id)
    assert (payment.state, payment.failure_code) == ("expired", "abandoned")
    assert _inquiries(fake) == 0
    # The go link now leads to the result page, never to the gateway.
    assert send_payer_to_gateway(db, order_id).gateway_url is None


def test_a_thousand_junk_checkouts_do_not_delay_a_real_payment(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    """1,000 abandoned payments older than a real one: one reconcile run, within a budget
    far shorter than IDPay's verify window, settles the real one with two gateway calls."""
    fake, url = idpay
    shop = _idpay_shop(db, url)
    template = payment_by_order(db, shop.checkout().order_id)
    old = utcnow() - timedelta(minutes=9)
    with db.transaction() as session:
        session.execute(
            Payment.__table__.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "order_id": f"dz-junk-{i}",
                    "gateway_payment_id": f"junk-{i}",
                    "tenant_id": template.tenant_id,
                    "user_id": template.user_id,
                    "plan_id": template.plan_id,
                    "amount_rials": 150_000,
                    "period_days": 30,
                    "gateway": "idpay",
                    "state": "pending",
                    "created_at": old,
                    "updated_at": old,
                }
                for i in range(1000)
            ],
        )
    real = shop.checkout()
    send_payer_to_gateway(db, real.order_id)
    fake.pay(real.gateway_url.rsplit("/", 1)[1])
    fake.calls.clear()
    started = time.monotonic()
    counts = reconcile_stale_payments(
        db,
        shop.gateways,
        older_than=SOON,
        now=utcnow() + SOON,
        budget=timedelta(seconds=120),
        **RECONCILE,
    )
    took = time.monotonic() - started
    assert payment_by_order(db, real.order_id).state == "paid"
    assert counts["expired"] == 1001  # the junk and the first, unfollowed checkout
    assert [kind for kind, _ in fake.calls] == ["inquiry", "verify"]
    assert took < 120  # the budget was not what ended the run
    assert count_rows(db, SubscriptionActivation) == 1


def test_a_run_stops_at_its_budget_and_the_next_goes_on(db: Database) -> None:
    shop = open_shop(db)
    for _ in range(5):
        shop.checkout()
    ticks = iter(range(100))
    counts = reconcile_stale_payments(
        db,
        shop.gateways,
        older_than=SOON,
        now=utcnow() + SOON,
        budget=timedelta(seconds=3),
        clock=lambda: float(next(ticks)),
        **RECONCILE,
    )
    # Each look at the clock moves it a second: 0 (the deadline is 3), 1 (a batch), 2 (the
    # first payment), 3 (time is up before the second).
    assert counts == {"expired": 1}
    counts = reconcile_stale_payments(
        db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE
    )
    assert counts == {"expired": 4}


@pytest.mark.parametrize(
    ("code", "age", "state"),
    [("53", timedelta(minutes=4), "paid"), ("53", timedelta(minutes=11), "failed"),
     ("54", timedelta(minutes=4), "failed")],
)  # fmt: skip
def test_a_payment_failed_on_a_not_final_answer_is_asked_again_in_the_window(
    db: Database, idpay: tuple[FakeIdPay, str], code: str, age: timedelta, state: str
) -> None:
    """As older versions left them: failed on "not verifiable" (53), while the payer went on
    to pay. Within the verify window reconciliation asks again and verifies."""
    fake, url = idpay
    shop = _idpay_shop(db, url)
    checkout = shop.checkout()
    fake.pay(checkout.gateway_url.rsplit("/", 1)[1])
    with db.transaction() as session:
        session.execute(
            update(Payment)
            .where(Payment.order_id == checkout.order_id)
            .values(state="failed", failure_code=code, created_at=utcnow() - age)
        )
    reconcile_stale_payments(db, shop.gateways, older_than=SOON, **RECONCILE)
    assert payment_by_order(db, checkout.order_id).state == state
    assert count_rows(db, SubscriptionActivation) == (1 if state == "paid" else 0)
    assert fake.verify_calls() == (1 if state == "paid" else 0)


def _refusing_transport() -> httpx.BaseTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(refuse)
