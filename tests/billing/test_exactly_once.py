"""However often, however late and however concurrently a callback arrives, a payment
activates at most one subscription, once, after verification agrees."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.audit.models import AuditEvent
from darvaza.billing.callbacks import receive_callback
from darvaza.billing.gateways.mock import settle_mock_payment
from darvaza.billing.models import Payment, PaymentEvent, Subscription, SubscriptionActivation
from darvaza.db import Database
from tests.audit.support import KEYS, verify
from tests.billing.support import open_shop


def _count(db: Database, model: type, **where: object) -> int:
    with db.read() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def test_pay_through_the_mock_gateway_activates_once(db: Database) -> None:
    shop = open_shop(db)
    checkout = shop.checkout()
    gateway_id = checkout.gateway_url.rsplit("/", 1)[1]
    returned = settle_mock_payment(db, gateway_id, pay=True)
    assert returned is not None
    assert returned.fields["status"] == "10"
    assert receive_callback(db, shop.gateways, "mock", returned.fields).state == "paid"
    # The same callback again, and again: replays change nothing.
    for _ in range(3):
        assert receive_callback(db, shop.gateways, "mock", returned.fields).state == "paid"
    assert _count(db, SubscriptionActivation) == 1
    assert _count(db, AuditEvent, action="subscription.activated") == 1
    assert _count(db, AuditEvent, action="payment.paid") == 1
    with db.read() as session:
        payment = session.scalars(select(Payment)).one()
        kinds = session.scalars(
            select(PaymentEvent.kind)
            .where(PaymentEvent.payment_id == payment.id)
            .order_by(PaymentEvent.id)
        ).all()
        subscription = session.scalars(select(Subscription)).one()
    assert payment.state == "paid"
    assert payment.gateway_reference is not None
    assert kinds[:7] == [
        "created",
        "sent",
        "callback_received",
        "verify_result",
        "paid",
        "activated",
        "callback_received",
    ]
    assert kinds.count("replay_ignored") == 3
    assert subscription.state == "active"
    seal_all(db, KEYS, CheckpointFolder(Path("checkpoints")))
    assert verify(db, Path("checkpoints")).ok


def test_fifty_concurrent_identical_callbacks_activate_once(db: Database) -> None:
    shop = open_shop(db)
    checkout = shop.checkout()
    returned = settle_mock_payment(db, checkout.gateway_url.rsplit("/", 1)[1], pay=True)
    assert returned is not None
    barrier = threading.Barrier(50)
    results: list[str] = []
    errors: list[BaseException] = []

    def call_back() -> None:
        try:
            barrier.wait()
            results.append(receive_callback(db, shop.gateways, "mock", returned.fields).state)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call_back) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert results == ["paid"] * 50
    assert _count(db, SubscriptionActivation) == 1
    assert _count(db, AuditEvent, action="subscription.activated") == 1
    assert _count(db, PaymentEvent, kind="activated") == 1
    seal_all(db, KEYS, CheckpointFolder(Path("checkpoints")))
    assert verify(db, Path("checkpoints")).ok
