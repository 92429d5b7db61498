"""Billing's ops checks fire from a seeded condition, resolve when it is fixed and reopen
when it comes back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from darvaza.billing.callbacks import receive_callback
from darvaza.billing.models import Payment, Subscription
from darvaza.billing.subscriptions import expire_due_subscriptions
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.billing.support import open_shop, paid_without_callback
from tests.support.checks import expect_cycle, findings, run, states
from tests.support.jobs import parts as make_parts


def _set(db: Database, order_id: str, **values: object) -> None:
    with db.transaction() as session:
        session.execute(update(Payment).where(Payment.order_id == order_id).values(**values))


def test_payments_left_open_past_reconciliation_are_critical(db: Database) -> None:
    shop = open_shop(db)
    parts = make_parts(db)
    first = shop.checkout().order_id
    young = shop.checkout().order_id  # just started: not stuck
    hour_ago = utcnow() - timedelta(hours=1)
    _set(db, first, created_at=hour_ago)

    run(parts, "payments.stale_pending")
    finding = findings(db, "payments.stale_pending")["mock"]
    assert finding.details["payments"] == 1
    assert finding.details["order_ids"] == [first]
    assert finding.tenants_affected == 1
    assert young not in finding.details["order_ids"]

    def fix() -> None:
        _set(db, first, state="expired")

    def again() -> None:
        _set(db, young, created_at=hour_ago)

    _set(db, first, state="pending")
    expect_cycle(parts, "payments.stale_pending", "mock", fix=fix, again=again)


def test_each_mismatched_payment_is_its_own_finding(db: Database) -> None:
    shop = open_shop(db)
    parts = make_parts(db)
    order_id = shop.checkout().order_id
    _set(db, order_id, state="mismatch", failure_message="amount 1 != 150000")
    run(parts, "payments.mismatch")
    finding = findings(db, "payments.mismatch")[order_id]
    assert finding.tenant_id == shop.tenant.id
    assert finding.severity == "critical"
    assert "amount" in finding.details["why"]
    expect_cycle(
        parts, "payments.mismatch", order_id,
        fix=lambda: _set(db, order_id, state="failed"),
        again=lambda: _set(db, order_id, state="mismatch"),
    )  # fmt: skip


def test_a_spike_of_rejected_callbacks_is_found(db: Database) -> None:
    shop = open_shop(db)
    sensitive = make_parts(db, ops_callback_rejections_threshold=3)
    relaxed = make_parts(db, ops_callback_rejections_threshold=1000)
    for n in range(2):  # callbacks naming no payment of ours: the audit log keeps them
        receive_callback(db, shop.gateways, "mock", {"order_id": f"nope-{n}", "status": "paid"})
    run(sensitive, "payments.callback_rejections")
    assert states(db, "payments.callback_rejections") == {}
    receive_callback(db, shop.gateways, "mock", {"order_id": "nope-3", "status": "paid"})
    run(sensitive, "payments.callback_rejections")
    finding = findings(db, "payments.callback_rejections")["payment-callbacks"]
    assert finding.details["rejected"] == 3
    assert finding.details["naming_no_payment"] == 3
    assert finding.tenants_affected == 0  # unknown orders name no tenant
    run(relaxed, "payments.callback_rejections")
    assert states(db, "payments.callback_rejections") == {"payment-callbacks": "resolved"}
    run(sensitive, "payments.callback_rejections")
    reopened = findings(db, "payments.callback_rejections")["payment-callbacks"]
    assert (reopened.state, reopened.recurrences) == ("open", 1)
    # Past the window the spike is over.
    run(sensitive, "payments.callback_rejections", now=utcnow() + timedelta(minutes=16))
    assert states(db, "payments.callback_rejections") == {"payment-callbacks": "resolved"}


def test_subscriptions_past_their_end_that_the_expiry_job_missed(db: Database) -> None:
    shop = open_shop(db)
    parts = make_parts(db)
    _, fields = paid_without_callback(shop)
    assert receive_callback(db, shop.gateways, "mock", fields).state == "paid"

    def overdue() -> None:
        with db.transaction() as session:
            session.execute(
                update(Subscription).values(
                    state="active", current_period_end=utcnow() - timedelta(hours=1)
                )
            )

    overdue()
    run(parts, "subscriptions.expiry_overdue")
    finding = findings(db, "subscriptions.expiry_overdue")["subscription-expiry"]
    assert (finding.details["subscriptions"], finding.tenants_affected) == (1, 1)
    expect_cycle(
        parts, "subscriptions.expiry_overdue", "subscription-expiry",
        fix=lambda: expire_due_subscriptions(db), again=overdue,
    )  # fmt: skip
