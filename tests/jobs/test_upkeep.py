"""The upkeep jobs' effects, each idempotent and safe alongside itself: expiring
subscriptions, reconciling open payments (racing a callback, too), cleaning up ended
sessions and download tokens, pruning finished jobs, and enqueuing them all at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.types import ASGIApp

from darvaza.assembly import WORK
from darvaza.audit.models import AuditEvent
from darvaza.billing.callbacks import receive_callback
from darvaza.billing.checkout import send_payer_to_gateway
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.mock import settle_mock_payment
from darvaza.billing.models import Payment, PaymentEvent, Subscription, SubscriptionActivation
from darvaza.billing.reconcile import reconcile_payment, reconcile_stale_payments
from darvaza.billing.subscriptions import cancel_subscription, expire_due_subscriptions
from darvaza.clock import utcnow
from darvaza.content.downloads import delete_ended_download_tokens, issue_download_token
from darvaza.content.items import create_item, move_item, store_upload
from darvaza.content.models import DownloadToken
from darvaza.content.storage import LocalStorage
from darvaza.db import Database
from darvaza.identity.models import Credential
from darvaza.identity.sessions import SessionPolicy, delete_ended_sessions, login
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim, complete, enqueue, fail
from darvaza.jobs.service import enqueue_ops, prune_finished
from darvaza.jobs.worker import WorkerConfig
from tests.billing.support import Shop, open_shop
from tests.support.fake_gateways import FakeIdPay
from tests.support.jobs import wait_for, worker_thread
from tests.support.world import SYSTEM


@pytest.fixture
def idpay(serve: Callable[[ASGIApp], str]) -> tuple[FakeIdPay, str]:
    fake = FakeIdPay()
    return fake, serve(fake.app) + "/v1.1"


RECONCILE = {"expire_after": timedelta(minutes=60)}
SOON = timedelta(minutes=5)


def _count(db: Database, model: type, *where: object) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _payment(db: Database, order_id: str) -> Payment:
    with db.read() as session:
        return session.scalars(select(Payment).where(Payment.order_id == order_id)).one()


def _paid_at_gateway_without_callback(shop: Shop) -> tuple[str, dict[str, str]]:
    """The payer paid on the mock gateway and closed the browser: no callback came."""
    checkout = shop.checkout()
    send_payer_to_gateway(shop.db, checkout.order_id)
    returned = settle_mock_payment(shop.db, checkout.gateway_url.rsplit("/", 1)[1], pay=True)
    assert returned is not None
    return checkout.order_id, returned.fields


# -- subscriptions.expire ---------------------------------------------------------------


def _subscribe(shop: Shop) -> Subscription:
    order_id, fields = _paid_at_gateway_without_callback(shop)
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
    _race(*[lambda: results.append(expire_due_subscriptions(db, now=when))] * 4)
    assert sum(r["expired"] for r in results) == 1
    assert sum(r["cancelled"] for r in results) == 1
    with db.read() as session:
        states = {s.id: s.state for s in session.scalars(select(Subscription))}
    assert states == {ending.id: "expired", cancelled.id: "cancelled", later.id: "active"}
    assert _count(db, AuditEvent, AuditEvent.action == "subscription.expired") == 1
    assert _count(db, AuditEvent, AuditEvent.action == "subscription.cancelled") == 2  # + ask
    assert expire_due_subscriptions(db, now=when) == {"expired": 0, "cancelled": 0}


def open_shop_customer(shop: Shop) -> Shop:
    """The same shop with another customer."""
    from tests.support.world import person

    return Shop(shop.db, shop.gateways, shop.tenant, person(shop.db))


# -- payments.reconcile -----------------------------------------------------------------


def test_reconcile_settles_a_payment_whose_callback_never_came(db: Database) -> None:
    shop = open_shop(db)
    order_id, _ = _paid_at_gateway_without_callback(shop)
    unpaid = shop.checkout().order_id
    send_payer_to_gateway(db, unpaid)  # the payer is at the gateway's page, not paying yet
    # Not old enough yet: left alone.
    assert reconcile_stale_payments(db, shop.gateways, older_than=SOON, **RECONCILE) == {}
    counts = reconcile_stale_payments(
        db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE
    )
    assert counts == {"paid": 1, "pending": 1}
    assert _payment(db, order_id).state == "paid"
    assert _payment(db, unpaid).state == "pending"  # the payer may still pay
    assert _count(db, SubscriptionActivation) == 1
    # Again: nothing changes, nothing activates twice.
    reconcile_stale_payments(db, shop.gateways, older_than=SOON, now=utcnow() + SOON, **RECONCILE)
    assert _count(db, SubscriptionActivation) == 1
    # Past the expiry window, the unpaid one expires.
    late = utcnow() + timedelta(minutes=61)
    assert reconcile_stale_payments(db, shop.gateways, older_than=SOON, now=late, **RECONCILE) == {
        "expired": 1
    }
    assert _payment(db, unpaid).state == "expired"


def _race(*calls: Callable[[], object]) -> None:
    """Start the calls at the same moment on threads of their own; re-raise any failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_reconcile_and_a_callback_racing_activate_once(db: Database) -> None:
    shop = open_shop(db)
    for _ in range(8):
        order_id, fields = _paid_at_gateway_without_callback(shop)
        payment_id = _payment(db, order_id).id
        _race(
            partial(receive_callback, db, shop.gateways, "mock", fields),
            partial(reconcile_payment, db, shop.gateways, payment_id, expire_after=SOON),
        )
        assert _payment(db, order_id).state == "paid"
    assert _count(db, SubscriptionActivation) == 8
    assert _count(db, AuditEvent, AuditEvent.action == "payment.paid") == 8


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
    payment = _payment(db, order_id)
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
    payment = _payment(db, checkout.order_id)
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
    assert _count(db, SubscriptionActivation) == 1


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
    payment = _payment(db, order_id)
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
    template = _payment(db, shop.checkout().order_id)
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
    assert _payment(db, real.order_id).state == "paid"
    assert counts["expired"] == 1001  # the junk and the first, unfollowed checkout
    assert [kind for kind, _ in fake.calls] == ["inquiry", "verify"]
    assert took < 120  # the budget was not what ended the run
    assert _count(db, SubscriptionActivation) == 1


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
    assert _payment(db, checkout.order_id).state == state
    assert _count(db, SubscriptionActivation) == (1 if state == "paid" else 0)
    assert fake.verify_calls() == (1 if state == "paid" else 0)


def _refusing_transport() -> httpx.BaseTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(refuse)


# -- cleanup ------------------------------------------------------------------------------


def test_cleanup_deletes_only_what_ended_long_ago(db: Database, tmp_path: Path) -> None:
    shop = open_shop(db)
    policy = SessionPolicy(absolute=timedelta(hours=1), idle=timedelta(minutes=30))
    who = shop.customer
    signed_in = {"policy": policy, "ip": "127.0.0.1", "user_agent": None, "throttle": None}
    old = login(db, email=who.email, password=who.password, **signed_in)
    fresh = login(db, email=who.email, password=who.password, **signed_in)
    with db.transaction() as session:
        session.execute(
            update(Credential)
            .where(Credential.id == old.credential.id)
            .values(
                expires_at=utcnow() - timedelta(days=8),
                last_used_at=utcnow() - timedelta(days=8),
            )
        )
    storage = LocalStorage(tmp_path / "store")
    stored = store_upload(storage, [b"hello"], max_bytes=1024, declared_size=None)
    owner_id = _owner_id(db, shop)
    item = create_item(
        db, storage, SYSTEM, tenant_id=shop.tenant.id, title="Doc", description="",
        unlocked_by="any_plan", plan_codes=[], stored=stored, filename="a.txt",
        content_type="text/plain",
    )  # fmt: skip
    move_item(db, SYSTEM, tenant_id=shop.tenant.id, item_id=item.id, move="publish")
    for _ in range(2):
        issue_download_token(
            db, SYSTEM, tenant_id=shop.tenant.id, item_id=item.id, user_id=owner_id,
            ttl=timedelta(minutes=5), max_uses=3, ip=None,
        )  # fmt: skip
    with db.transaction() as session:
        first = session.scalars(select(DownloadToken.id)).first()
        session.execute(
            update(DownloadToken)
            .where(DownloadToken.id == first)
            .values(expires_at=utcnow() - timedelta(days=8))
        )
    keep = timedelta(days=7)
    assert delete_ended_sessions(db, policy, keep=keep) == 1
    assert delete_ended_download_tokens(db, keep=keep) == 1
    assert delete_ended_sessions(db, policy, keep=keep) == 0
    with db.read() as session:
        left = set(session.scalars(select(Credential.id)))
    assert fresh.credential.id in left
    assert old.credential.id not in left
    assert _count(db, DownloadToken) == 1


def _owner_id(db: Database, shop: Shop) -> object:
    from darvaza.tenants.models import TenantMembership

    with db.read() as session:
        return session.scalars(
            select(TenantMembership.user_id).where(TenantMembership.tenant_id == shop.tenant.id)
        ).first()


# -- jobs.prune and enqueue-ops ---------------------------------------------------------


def test_prune_deletes_finished_jobs_past_retention_only(db: Database) -> None:
    long_ago = utcnow() - timedelta(days=30)
    with db.transaction() as session:
        ids = [
            enqueue(session, "noop", {"n": n}, max_attempts=1, run_at=long_ago) for n in range(4)
        ]
    claimed = claim(db, "w1", limit=3, now=long_ago)
    assert complete(db, claimed[0], now=long_ago)
    assert fail(db, claimed[1], "boom", now=long_ago) == "dead"
    recent = claim(db, "w2", limit=1)[0]
    assert complete(db, recent)
    assert prune_finished(db, older_than=timedelta(days=14)) == 2
    with db.read() as session:
        states = {job.id: job.state for job in session.scalars(select(Job))}
    assert set(states) == {claimed[2].id, recent.id}
    assert states[claimed[2].id] == "running"
    assert set(ids) >= set(states)


def test_enqueue_ops_adds_each_upkeep_job_once_and_a_worker_runs_them(db: Database) -> None:
    first = enqueue_ops(db, SYSTEM, WORK.upkeep)
    assert set(first) == set(WORK.upkeep)
    assert all(job_id is not None for job_id in first.values())
    assert set(enqueue_ops(db, SYSTEM, WORK.upkeep).values()) == {
        None
    }  # still queued: nothing added
    assert _count(db, AuditEvent, AuditEvent.action == "jobs.ops_enqueued") == 2
    config = WorkerConfig(concurrency=2, poll_seconds=0.05)
    with worker_thread(db, WORK.registry, config):
        wait_for(
            lambda: (
                _count(db, Job, Job.id.in_(list(first.values())), Job.state == "succeeded")
                == len(first)
            )
        )
