"""The callback path against fake IDPay and Zarinpal servers: every status of IDPay's
table, Zarinpal's OK/NOK and 100/101, gateways that err, time out or lie."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from starlette.types import ASGIApp

from darvaza.billing.callbacks import receive_callback
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.models import Payment, PaymentEvent, SubscriptionActivation
from darvaza.billing.plans import update_plan
from darvaza.db import Database
from darvaza.errors import Conflict, GatewayFailed, NotFound
from tests.billing.support import Shop, open_shop
from tests.support.fake_gateways import API_KEY, MERCHANT_ID, FakeIdPay, FakeZarinpal
from tests.support.settings import make_settings
from tests.support.world import SYSTEM


@pytest.fixture
def idpay(serve: Callable[[ASGIApp], str]) -> tuple[FakeIdPay, str]:
    fake = FakeIdPay()
    return fake, serve(fake.app) + "/v1.1"


def _shop(db: Database, gateway: str, **settings: object) -> Shop:
    return open_shop(db, gateway=gateway, **settings)


def _idpay_shop(db: Database, base_url: str, **extra: object) -> Shop:
    settings: dict[str, object] = {"gateway_timeout_seconds": 1.0, **extra}
    return _shop(db, "idpay", idpay_api_key=API_KEY, idpay_base_url=base_url, **settings)


def _payment(db: Database) -> Payment:
    with db.read() as session:
        return session.scalars(select(Payment)).one()


def _activations(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(SubscriptionActivation)) or 0)


def _kinds(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(PaymentEvent.kind).order_by(PaymentEvent.id)).all())


def _inquiries(fake: FakeIdPay | FakeZarinpal) -> int:
    return sum(1 for kind, _ in fake.calls if kind == "inquiry")


@pytest.mark.parametrize("claimed", [1, 2, 3, 4, 5, 6, 7])
def test_a_claimed_failure_while_the_payer_is_still_paying_leaves_the_payment_open(
    db: Database, idpay: tuple[FakeIdPay, str], claimed: int
) -> None:
    """Anyone who knows an order id can send a callback saying "failed": IDPay is asked
    (inquiry), still has the payment unpaid (1), and so the payment stays open."""
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    forged = fake.callback(checkout_id(fake), status=str(claimed))
    assert receive_callback(db, shop.gateways, "idpay", forged).state == "pending"
    assert (_inquiries(fake), fake.verify_calls()) == (1, 0)
    # The payer then pays, and their real callback settles it.
    assert receive_callback(db, shop.gateways, "idpay", fake.pay(checkout_id(fake))).state == (
        "paid"
    )
    assert _activations(db) == 1


@pytest.mark.parametrize(
    ("status", "state"),
    [(2, "failed"), (3, "failed"), (4, "failed"), (5, "failed"), (6, "failed"),
     (7, "cancelled")],
)  # fmt: skip
def test_a_claimed_failure_the_gateway_confirms_ends_the_payment(
    db: Database, idpay: tuple[FakeIdPay, str], status: int, state: str
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    checkout = shop.checkout()
    fake.payments[checkout_id(fake)].status = status  # IDPay's own record agrees
    fields = fake.callback(checkout_id(fake))
    assert receive_callback(db, shop.gateways, "idpay", fields).state == state
    assert fake.verify_calls() == 0  # never verified
    payment = _payment(db)
    assert (payment.state, payment.failure_code) == (state, f"status_{status}")
    assert _activations(db) == 0
    assert checkout.order_id == payment.order_id


def test_a_claimed_failure_of_a_payment_the_payer_paid_is_verified(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    real = fake.pay(checkout_id(fake))
    forged = {**real, "status": "7"}
    assert receive_callback(db, shop.gateways, "idpay", forged).state == "paid"
    assert (_inquiries(fake), fake.verify_calls()) == (1, 1)
    assert receive_callback(db, shop.gateways, "idpay", real).state == "paid"
    assert _activations(db) == 1


def test_a_claimed_failure_when_inquiry_fails_changes_nothing(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fake.payments[checkout_id(fake)].status = 2
    forged = fake.callback(checkout_id(fake))
    fake.payments.clear()  # inquiry now answers 52, "found nothing"
    assert receive_callback(db, shop.gateways, "idpay", forged).state == "pending"
    assert "inquiry_failed" in _kinds(db)


def test_a_failure_the_inquiry_confirms_fails_the_payment_without_a_verify(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fake.payments[checkout_id(fake)].status = 2
    claimed = fake.callback(checkout_id(fake))
    assert receive_callback(db, shop.gateways, "idpay", claimed).state == "failed"
    assert (_inquiries(fake), fake.verify_calls()) == (1, 0)
    kinds = _kinds(db)
    assert "inquiry_result" in kinds  # an inquiry is told as one, never as a verify
    assert "verify_result" not in kinds
    assert _activations(db) == 0


def test_idpay_status_8_is_still_at_the_bank(db: Database, idpay: tuple[FakeIdPay, str]) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = fake.callback(checkout_id(fake), status="8")
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "pending"
    assert (_inquiries(fake), fake.verify_calls()) == (0, 0)


def test_an_early_forged_get_callback_does_not_spoil_the_real_one(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    """The probe's sequence: a GET callback with status=10 before the payer pays; IDPay's
    verify answers 53 ("not verifiable"); the payer then pays and comes back."""
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    payment_id = checkout_id(fake)
    early = {key: value for key, value in fake.callback(payment_id, status="10").items()
             if key in ("status", "track_id", "id", "order_id")}  # fmt: skip
    assert receive_callback(db, shop.gateways, "idpay", early).state == "pending"
    assert fake.verify_calls() == 1
    payment = _payment(db)
    assert (payment.state, payment.failure_code) == ("pending", None)
    assert receive_callback(db, shop.gateways, "idpay", fake.pay(payment_id)).state == "paid"
    assert fake.verify_calls() == 2
    assert fake.payments[payment_id].status == 100  # verified: IDPay keeps the money
    assert _activations(db) == 1
    assert "replay_ignored" not in _kinds(db)


def checkout_id(fake: FakeIdPay) -> str:
    (payment_id,) = fake.payments
    return payment_id


@pytest.mark.parametrize("status", ["10", 10])
def test_idpay_awaiting_verification_is_verified_then_paid(
    db: Database, idpay: tuple[FakeIdPay, str], status: object
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = fake.pay(checkout_id(fake))
    fields["status"] = status  # type: ignore[assignment]
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "paid"
    assert fake.verify_calls() == 1
    payment = _payment(db)
    assert payment.gateway_reference == fake.payments[checkout_id(fake)].track_id
    assert _activations(db) == 1
    # The same callback again: IDPay would answer 101; Darvaza does not even ask.
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "paid"
    assert _activations(db) == 1


@pytest.mark.parametrize("verify_status", [101, 200, 100])
def test_idpay_verified_answers_activate_a_payment_not_yet_activated(
    db: Database, idpay: tuple[FakeIdPay, str], verify_status: int
) -> None:
    """101 ("already verified": our earlier verify's answer was lost) still activates once."""
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = fake.pay(checkout_id(fake))
    fake.misbehave, fake.verify_status = "status", verify_status
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "paid"
    assert _activations(db) == 1


@pytest.mark.parametrize(
    ("misbehave", "state", "code"),
    [
        ("wrong_amount", "mismatch", "mismatch"),
        ("wrong_order", "mismatch", "mismatch"),
        ("not_verifiable", "pending", None),
        ("too_late", "failed", "54"),
        ("server_error", "pending", None),
        ("slow", "pending", None),
    ],
)
def test_idpay_verify_that_disagrees_errs_or_stalls(
    db: Database, idpay: tuple[FakeIdPay, str], misbehave: str, state: str, code: str | None
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = fake.pay(checkout_id(fake))
    fake.misbehave = misbehave
    assert receive_callback(db, shop.gateways, "idpay", fields).state == state
    payment = _payment(db)
    assert payment.failure_code == code
    assert _activations(db) == 0
    if state == "mismatch":
        with db.read() as session:
            event = session.scalars(
                select(PaymentEvent).where(PaymentEvent.kind == "mismatch")
            ).one()
        ours_theirs = next(iter(event.data["disagreements"].values()))
        assert set(ours_theirs) == {"ours", "theirs"}
        assert ours_theirs["ours"] != ours_theirs["theirs"]
    if state == "pending":
        # Safe to verify again once the gateway behaves.
        fake.misbehave = None
        assert receive_callback(db, shop.gateways, "idpay", fields).state == "paid"
        assert _activations(db) == 1


def test_a_receipt_cannot_pay_for_two_orders(db: Database, idpay: tuple[FakeIdPay, str]) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    fake.misbehave = "reused_track_id"
    shop.checkout()
    first = next(iter(fake.payments))
    assert receive_callback(db, shop.gateways, "idpay", fake.pay(first)).state == "paid"
    shop.checkout()
    second = next(p for p in fake.payments if p != first)
    assert receive_callback(db, shop.gateways, "idpay", fake.pay(second)).state == "mismatch"
    assert _activations(db) == 1
    # And another order's gateway id in a callback is refused outright.
    replay = fake.callback(first)
    with db.read() as session:
        other = session.scalars(select(Payment).where(Payment.gateway_payment_id == second)).one()
    replay["order_id"] = other.order_id
    assert receive_callback(db, shop.gateways, "idpay", replay).state == "mismatch"
    assert "callback_rejected" in _kinds(db)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"status": "10", "order_id": "dz-x"},
        {"status": "ten", "id": "a", "order_id": "dz-x"},
        {"status": "42", "id": "a", "order_id": "dz-x"},
        {"status": "10", "id": "a", "order_id": "x" * 500},
    ],
)
def test_unreadable_callbacks_change_nothing(
    db: Database, idpay: tuple[FakeIdPay, str], fields: dict[str, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    assert receive_callback(db, shop.gateways, "idpay", fields).state in {"unknown", "pending"}
    assert _payment(db).state == "pending"
    assert fake.verify_calls() == 0


def test_a_callback_for_an_unknown_order_is_recorded(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    _, url = idpay
    shop = _idpay_shop(db, url)
    result = receive_callback(
        db, shop.gateways, "idpay", {"status": "10", "id": "abc", "order_id": "dz-nope"}
    )
    assert result.state == "unknown"
    from darvaza.audit.models import AuditEvent

    with db.read() as session:
        rejected = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "payment.callback_rejected")
        ).one()
    assert rejected.reason == "no payment of ours has this order"


@pytest.mark.parametrize(
    ("error", "code"),
    [((403, 12, "API Key not found"), "12"), ((406, 38, "callback domain mismatch"), "38")],
)
def test_idpay_refusing_checkout_fails_the_payment(
    db: Database, idpay: tuple[FakeIdPay, str], error: tuple[int, int, str], code: str
) -> None:
    fake, url = idpay
    fake.create_error = error
    shop = _idpay_shop(db, url)
    with pytest.raises(GatewayFailed) as refused:
        shop.checkout()
    assert code in refused.value.message
    payment = _payment(db)
    assert (payment.state, payment.failure_code) == ("failed", code)
    assert _kinds(db) == ["created", "send_failed"]


def test_an_unreachable_gateway_fails_checkout(db: Database) -> None:
    shop = _idpay_shop(db, "http://127.0.0.1:1/v1.1")
    with pytest.raises(GatewayFailed):
        shop.checkout()
    assert _payment(db).state == "failed"
    assert _payment(db).failure_code == "unreachable"


def test_retired_and_foreign_plans(db: Database, idpay: tuple[FakeIdPay, str]) -> None:
    _, url = idpay
    shop = _idpay_shop(db, url)
    with pytest.raises(NotFound):
        shop.checkout("platinum")
    with db.read() as session:
        from darvaza.billing.models import Plan

        plan = session.scalars(select(Plan)).one()
    update_plan(db, SYSTEM, tenant_id=shop.tenant.id, plan_id=plan.id, active=False)
    with pytest.raises(Conflict):
        shop.checkout()


@pytest.fixture
def zarinpal(serve: Callable[[ASGIApp], str]) -> tuple[FakeZarinpal, str]:
    fake = FakeZarinpal()
    return fake, serve(fake.app) + "/pg"


def _zarinpal_shop(db: Database, base_url: str) -> Shop:
    return _shop(db, "zarinpal", zarinpal_merchant_id=MERCHANT_ID, zarinpal_base_url=base_url)


def test_zarinpal_ok_verifies_and_101_does_not_activate_twice(
    db: Database, zarinpal: tuple[FakeZarinpal, str]
) -> None:
    fake, url = zarinpal
    shop = _zarinpal_shop(db, url)
    checkout = shop.checkout()
    (authority,) = fake.authorities
    assert checkout.gateway_url == f"{url}/StartPay/{authority}"
    fake.authorities[authority]["paid"] = True
    callback = {"Authority": authority, "Status": "OK"}
    assert receive_callback(db, shop.gateways, "zarinpal", callback).state == "paid"
    assert receive_callback(db, shop.gateways, "zarinpal", callback).state == "paid"
    assert _activations(db) == 1
    assert _payment(db).gateway_reference == str(fake.authorities[authority]["ref_id"])


def _zarinpal_callback(db: Database, shop: Shop, authority: str, status: str) -> str:
    fields = {"Authority": authority, "Status": status}
    return receive_callback(db, shop.gateways, "zarinpal", fields).state


def test_zarinpal_nok_is_checked_by_inquiry(
    db: Database, zarinpal: tuple[FakeZarinpal, str]
) -> None:
    fake, url = zarinpal
    shop = _zarinpal_shop(db, url)
    shop.checkout()
    (authority,) = fake.authorities
    # A forged NOK while the payer is at the bank: Zarinpal says IN_BANK, nothing ends.
    assert _zarinpal_callback(db, shop, authority, "NOK") == "pending"
    assert not [c for c in fake.calls if c[0] == "verify"]
    # A NOK for a payment the payer did pay: inquiry says PAID, so it is verified.
    fake.authorities[authority]["paid"] = True
    assert _zarinpal_callback(db, shop, authority, "NOK") == "paid"
    assert _activations(db) == 1


def test_zarinpal_nok_the_gateway_confirms_fails(
    db: Database, zarinpal: tuple[FakeZarinpal, str]
) -> None:
    fake, url = zarinpal
    shop = _zarinpal_shop(db, url)
    shop.checkout()
    (authority,) = fake.authorities
    fake.authorities[authority]["failed"] = True
    assert _zarinpal_callback(db, shop, authority, "NOK") == "failed"
    assert not [c for c in fake.calls if c[0] == "verify"]


def test_zarinpal_early_ok_leaves_the_payment_open(
    db: Database, zarinpal: tuple[FakeZarinpal, str]
) -> None:
    """An OK before the payer paid: verify answers -51 ("not successful"), which must not
    end the payment; the payer's real OK then settles it."""
    fake, url = zarinpal
    shop = _zarinpal_shop(db, url)
    shop.checkout()
    (authority,) = fake.authorities
    assert _zarinpal_callback(db, shop, authority, "OK") == "pending"
    fake.authorities[authority]["paid"] = True
    assert _zarinpal_callback(db, shop, authority, "OK") == "paid"
    assert _activations(db) == 1


def test_zarinpal_verify_refused_fails(db: Database, zarinpal: tuple[FakeZarinpal, str]) -> None:
    fake, url = zarinpal
    shop = _zarinpal_shop(db, url)
    shop.checkout()
    (authority,) = fake.authorities
    fake.verify_error = (400, -54, "invalid authority")
    assert _zarinpal_callback(db, shop, authority, "OK") == "failed"
    assert _payment(db).failure_code == "-54"


def test_a_dropped_connection_at_verify_leaves_the_payment_pending(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    from urllib.parse import urlsplit

    from tests.support.tcp_proxy import TcpProxy

    fake, url = idpay
    target = urlsplit(url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 80)
    try:
        shop = _idpay_shop(db, f"http://127.0.0.1:{proxy.port}/v1.1")
        shop.checkout()
        fields = fake.pay(checkout_id(fake))
        proxy.cut()
        assert receive_callback(db, shop.gateways, "idpay", fields).state == "pending"
        assert "verify_failed" in _kinds(db)
        proxy.restore()
        assert receive_callback(db, shop.gateways, "idpay", fields).state == "paid"
        assert _activations(db) == 1
    finally:
        proxy.close()


@pytest.mark.parametrize("status", ["100", "101", "200"])
def test_a_callback_claiming_paid_is_verified_not_believed(
    db: Database, idpay: tuple[FakeIdPay, str], status: str
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    payment_id = checkout_id(fake)
    # The payer never paid (IDPay has it at status 1), but the callback says otherwise:
    # verify answers 53, "not verifiable", and the payment stays open for the real one.
    fields = fake.callback(payment_id, status=status)
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "pending"
    assert fake.verify_calls() == 1
    assert _payment(db).failure_code is None
    assert _activations(db) == 0


@pytest.mark.parametrize("amount", ["-5", "abc", "999999999999", ""])
def test_the_callbacks_amount_is_never_trusted(
    db: Database, idpay: tuple[FakeIdPay, str], amount: str
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = fake.pay(checkout_id(fake))
    fields["amount"] = amount
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "paid"
    assert _payment(db).amount_rials == 150_000


def test_an_unreadable_verify_answer_keeps_the_payment_pending(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = fake.pay(checkout_id(fake))
    fake.misbehave, fake.verify_status = "status", 999
    assert receive_callback(db, shop.gateways, "idpay", fields).state == "pending"
    assert _activations(db) == 0


def test_fifty_concurrent_callbacks_through_idpay_verify_once_and_activate_once(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    """Each racing callback asks IDPay; the first gets 100, the rest 101; one activation."""
    import threading

    fake, url = idpay
    shop = _idpay_shop(db, url, gateway_timeout_seconds=30.0)
    shop.checkout()
    fields = fake.pay(checkout_id(fake))
    barrier = threading.Barrier(50)
    states: list[str] = []

    def call() -> None:
        barrier.wait()
        states.append(receive_callback(db, shop.gateways, "idpay", fields).state)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert states == ["paid"] * 50
    assert _activations(db) == 1
    assert _kinds(db).count("activated") == 1


def test_another_tenants_plan_cannot_be_bought_here(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    from darvaza.billing.checkout import start_checkout
    from darvaza.tenants.service import create_tenant
    from tests.support.world import person

    _, url = idpay
    shop = _idpay_shop(db, url)
    other = create_tenant(db, SYSTEM, slug="globex", name="Globex", owner_email=person(db).email)
    with pytest.raises(NotFound):
        start_checkout(
            db, shop.gateways, user_id=shop.customer.user.id, email=shop.customer.email,
            tenant_id=other.id, plan_code="gold", public_url="http://127.0.0.1:4000",
        )  # fmt: skip


def test_a_slow_gateway_at_checkout_fails_the_payment(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    fake.misbehave = "slow"
    shop = _idpay_shop(db, url)
    with pytest.raises(GatewayFailed):
        shop.checkout()
    assert (_payment(db).state, _payment(db).failure_code) == ("failed", "timeout")


def test_inquiry_reports_each_gateways_view(
    db: Database, idpay: tuple[FakeIdPay, str], zarinpal: tuple[FakeZarinpal, str]
) -> None:
    """Inquiry (for reconciling payments whose payer never came back) reads the same way."""
    from darvaza.billing.gateways.base import Outcome, PaymentRef

    fake_idpay, idpay_url = idpay
    shop = _idpay_shop(db, idpay_url)
    shop.checkout()
    payment = _payment(db)
    ref = PaymentRef(payment.order_id, payment.gateway_payment_id or "", payment.amount_rials)
    gateway = shop.gateways.get("idpay")
    # Status 1 ("not made") asked about by us means "not yet": the payer may still pay.
    assert gateway.inquire(ref).outcome is Outcome.PENDING
    fake_idpay.pay(checkout_id(fake_idpay))
    assert gateway.inquire(ref).outcome is Outcome.VERIFY

    fake_zarinpal, zarinpal_url = zarinpal
    registry = GatewayRegistry(
        make_settings(zarinpal_merchant_id=MERCHANT_ID, zarinpal_base_url=zarinpal_url), db
    )
    zarinpal_gateway = registry.get("zarinpal")
    from darvaza.billing.gateways.base import CreateRequest

    created = zarinpal_gateway.create(
        CreateRequest("dz-inquiry", 150_000, "http://127.0.0.1:4000/cb", "Gold")
    )
    zref = PaymentRef("dz-inquiry", created.gateway_payment_id, 150_000)
    assert zarinpal_gateway.inquire(zref).outcome is Outcome.PENDING
    fake_zarinpal.authorities[created.gateway_payment_id]["paid"] = True
    assert zarinpal_gateway.inquire(zref).outcome is Outcome.VERIFY
    zarinpal_gateway.verify(zref)
    assert zarinpal_gateway.inquire(zref).outcome is Outcome.PAID

    mock = GatewayRegistry(make_settings(), db).get("mock")
    made = mock.create(
        CreateRequest("dz-mock-inquiry", 150_000, "http://127.0.0.1:4000/cb", "Gold")
    )
    assert (
        mock.inquire(PaymentRef("dz-mock-inquiry", made.gateway_payment_id, 150_000)).outcome
        is Outcome.PENDING
    )


HUGE = "9" * 900_000


@pytest.mark.parametrize(
    "override",
    [
        {"amount": HUGE, "junk": HUGE, "card_no": HUGE},  # readable: verified and paid
        {"status": "ten", "amount": HUGE, "junk": HUGE},  # unreadable
        {"track_id": HUGE, "date": HUGE},
    ],
)
def test_a_callback_cannot_grow_the_timeline(
    db: Database, idpay: tuple[FakeIdPay, str], override: dict[str, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    fields = {**fake.pay(checkout_id(fake)), **override}
    receive_callback(db, shop.gateways, "idpay", fields)
    with db.read() as session:
        events = session.scalars(select(PaymentEvent)).all()
    for event in events:
        stored = json.dumps(event.data)
        assert len(stored) < 2_000, (event.kind, len(stored))
        assert "hashed_card_no" not in stored
        assert "AB" * 32 not in stored
        assert "junk" not in stored


def test_an_unknown_orders_callback_cannot_grow_the_audit_log(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    _, url = idpay
    shop = _idpay_shop(db, url)
    for fields in (
        {"status": "10", "id": HUGE, "order_id": "dz-nope", "junk": HUGE},
        {"status": "10", "id": "a", "order_id": "dz-nope", "amount": HUGE, "junk": HUGE},
    ):
        assert receive_callback(db, shop.gateways, "idpay", fields).state == "unknown"
    assert receive_callback(db, shop.gateways, "nope", {"x": HUGE}).state == "unknown"
    from darvaza.audit.models import AuditEvent

    with db.read() as session:
        rows = session.scalars(select(AuditEvent.data)).all()
    assert rows
    assert all(len(json.dumps(data)) < 2_000 for data in rows)


def test_rejected_callbacks_on_a_real_order_are_recorded_only_while_allowed(
    db: Database, idpay: tuple[FakeIdPay, str]
) -> None:
    fake, url = idpay
    shop = _idpay_shop(db, url)
    shop.checkout()
    allowance = iter([True, True, False, False, False, False])
    unreadable = {**fake.callback(checkout_id(fake)), "status": "ten"}
    wrong_id = {**fake.callback(checkout_id(fake)), "id": "someone-elses"}
    for fields in (unreadable, wrong_id, unreadable, wrong_id, unreadable, wrong_id):
        result = receive_callback(
            db, shop.gateways, "idpay", fields, record_rejection=lambda: next(allowance)
        )
        assert result.state == "pending"
    assert _kinds(db).count("callback_rejected") == 2
