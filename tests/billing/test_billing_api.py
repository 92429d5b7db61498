"""The whole path over HTTP with the mock gateway: plans, checkout, the payer's pages, the
callback, the result page, subscriptions; and the timeline from the command line."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from darvaza.billing.models import Subscription
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from tests.support.world import (
    Api,
    Person,
    admin_token,
    error_code,
    gateway_path,
    person,
    return_fields,
)


def _shop(api: Api) -> tuple[str, str, Person]:
    """A tenant with a plan; the owner's token, the plan code, a customer."""
    owner = person(api.db)
    api.call(
        "POST", "/api/v1/admin/tenants", token=admin_token(api.db),
        json={"slug": "acme", "name": "Acme", "owner_email": owner.email},
    )  # fmt: skip
    owner_token = api.login(owner)
    made = api.call(
        "POST", "/api/v1/tenants/acme/plans", token=owner_token,
        json={"code": "gold", "name": "Gold", "price_rials": 150_000, "period_days": 30},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return owner_token, "gold", person(api.db)


def _pay(api: Api, token: str, *, pay: bool = True) -> tuple[str, dict[str, str]]:
    started = api.call(
        "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": "gold"}
    )
    assert started.status_code == 201, started.text
    body = started.json()
    mock_path = gateway_path(api, body["redirect_url"])
    assert api.call("GET", mock_path).status_code == 200
    page = api.call("POST", mock_path, data={"action": "pay" if pay else "cancel"})
    fields = return_fields(page)
    return body["order_id"], fields


def test_buy_a_plan_end_to_end(api: Api) -> None:
    owner_token, _, customer = _shop(api)
    assert [p["code"] for p in api.call("GET", "/api/v1/tenants/acme/plans").json()] == ["gold"]
    token = api.login(customer)
    order_id, fields = _pay(api, token)
    assert fields["status"] == "10"
    back = api.call("POST", "/api/v1/payments/callback/mock", data=fields)
    assert back.status_code == 303
    assert back.headers["location"] == f"/payments/result/{order_id}"
    result = api.call("GET", back.headers["location"])
    assert "Payment received" in result.text
    assert "Shop: Acme" in result.text  # whose payment it was
    assert 'href="/console/me/subscriptions"' in result.text  # and on to what it bought
    mine = api.call("GET", "/api/v1/me/subscriptions", token=token).json()
    assert len(mine) == 1
    assert mine[0]["active_now"] is True
    payments = api.call("GET", "/api/v1/me/payments", token=token).json()
    assert [(p["order_id"], p["state"]) for p in payments] == [(order_id, "paid")]
    # The same callback as a GET query (IDPay's other mode) is a replay: nothing changes.
    again = api.call("GET", "/api/v1/payments/callback/mock", params=fields)
    assert again.status_code == 303
    assert len(api.call("GET", "/api/v1/tenants/acme/subscribers", token=owner_token).json()) == 1
    detail = api.call(
        "GET", f"/api/v1/tenants/acme/payments/{payments[0]['id']}", token=owner_token
    )
    kinds = [e["kind"] for e in detail.json()["events"]]
    assert kinds[:7] == [
        "created",
        "sent",
        "sent_to_payer",
        "callback_received",
        "verify_result",
        "paid",
        "activated",
    ]
    assert "replay_ignored" in kinds

    shown = CliRunner().invoke(
        cli, ["payments", "show", order_id],
        env={"DARVAZA_DATABASE_URL": api.db.url.render_as_string(hide_password=False)},
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert f"{order_id}  paid  150,000 Rials via mock" in shown.output
    assert "activated" in shown.output


def test_cancelling_at_the_gateway(api: Api) -> None:
    _, _, customer = _shop(api)
    token = api.login(customer)
    order_id, fields = _pay(api, token, pay=False)
    assert fields["status"] == "7"
    back = api.call("POST", "/api/v1/payments/callback/mock", data=fields)
    assert "Payment cancelled" in api.call("GET", back.headers["location"]).text
    assert api.call("GET", "/api/v1/me/subscriptions", token=token).json() == []
    (mine,) = api.call("GET", "/api/v1/me/payments", token=token).json()
    assert (mine["order_id"], mine["state"]) == (order_id, "cancelled")


def test_a_renewal_extends_from_the_later_of_now_and_the_current_end(api: Api) -> None:
    _, _, customer = _shop(api)
    token = api.login(customer)
    api.call("POST", "/api/v1/payments/callback/mock", data=_pay(api, token)[1])
    first_end = api.call("GET", "/api/v1/me/subscriptions", token=token).json()[0][
        "current_period_end"
    ]
    api.call("POST", "/api/v1/payments/callback/mock", data=_pay(api, token)[1])
    renewed = api.call("GET", "/api/v1/me/subscriptions", token=token).json()
    assert len(renewed) == 1
    from datetime import datetime

    gained = datetime.fromisoformat(renewed[0]["current_period_end"]) - datetime.fromisoformat(
        first_end
    )
    assert gained == timedelta(days=30)
    # After it lapsed, a renewal counts from now.
    with api.db.transaction() as session:
        session.execute(
            update(Subscription).values(
                current_period_end=utcnow() - timedelta(days=3), state="expired"
            )
        )
    api.call("POST", "/api/v1/payments/callback/mock", data=_pay(api, token)[1])
    lapsed = api.call("GET", "/api/v1/me/subscriptions", token=token).json()[0]
    end = datetime.fromisoformat(lapsed["current_period_end"])
    assert timedelta(days=29, hours=23) < end - utcnow() <= timedelta(days=30)
    assert lapsed["state"] == "active"


def test_cancel_keeps_the_paid_period(api: Api) -> None:
    _, _, customer = _shop(api)
    token = api.login(customer)
    api.call("POST", "/api/v1/payments/callback/mock", data=_pay(api, token)[1])
    subscription = api.call("GET", "/api/v1/me/subscriptions", token=token).json()[0]
    cancelled = api.call(
        "POST", f"/api/v1/me/subscriptions/{subscription['id']}/cancel", token=token
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["cancel_at_period_end"] is True
    assert cancelled.json()["active_now"] is True
    # "Active now" follows the clock even before any expiry job runs.
    with api.db.transaction() as session:
        session.execute(
            update(Subscription).values(current_period_end=utcnow() - timedelta(seconds=1))
        )
    assert api.call("GET", "/api/v1/me/subscriptions", token=token).json()[0]["active_now"] is False
    again = api.call("POST", f"/api/v1/me/subscriptions/{subscription['id']}/cancel", token=token)
    assert again.status_code == 409


def test_plans_bad_input_and_retired_plans(api: Api) -> None:
    owner_token, _, customer = _shop(api)
    for body in (
        {"code": "Bad Code", "name": "x", "price_rials": 1000, "period_days": 1},
        {"code": "silver\n", "name": "x", "price_rials": 1000, "period_days": 1},
        {"code": "free", "name": "x", "price_rials": 0, "period_days": 1},
        {"code": "neg", "name": "x", "price_rials": -5, "period_days": 1},
        {"code": "text", "name": "x", "price_rials": "lots", "period_days": 1},
        {"code": "zero", "name": "x", "price_rials": 1000, "period_days": 0},
    ):
        response = api.call("POST", "/api/v1/tenants/acme/plans", token=owner_token, json=body)
        assert response.status_code == 422, body
    twice = api.call(
        "POST", "/api/v1/tenants/acme/plans", token=owner_token,
        json={"code": "gold", "name": "Again", "price_rials": 1000, "period_days": 1},
    )  # fmt: skip
    assert (twice.status_code, error_code(twice)) == (409, "plan_code_taken")
    plan_id = api.call("GET", "/api/v1/tenants/acme/plans").json()[0]["id"]
    retired = api.call(
        "PATCH", f"/api/v1/tenants/acme/plans/{plan_id}", token=owner_token, json={"active": False}
    )
    assert retired.json()["active"] is False
    assert api.call("GET", "/api/v1/tenants/acme/plans").json() == []
    assert len(api.call("GET", "/api/v1/tenants/acme/plans/all", token=owner_token).json()) == 1
    token = api.login(customer)
    refused = api.call(
        "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": "gold"}
    )
    assert (refused.status_code, error_code(refused)) == (409, "plan_retired")
    unknown = api.call(
        "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": "nope"}
    )
    assert unknown.status_code == 404


def test_a_gateway_that_fails_checkout_answers_502(api: Api) -> None:
    _, _, customer = _shop(api)
    admin = admin_token(api.db)
    chosen = api.call(
        "PUT", "/api/v1/admin/tenants/acme/gateway", token=admin, json={"gateway": "idpay"}
    )
    assert chosen.status_code == 200
    token = api.login(customer)
    response = api.call(
        "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": "gold"}
    )
    assert response.status_code == 502
    assert error_code(response) == "gateway_error"
    assert "not_configured" in response.json()["error"]["message"]
    (mine,) = api.call("GET", "/api/v1/me/payments", token=token).json()
    assert (mine["state"], mine["failure_code"]) == ("failed", "not_configured")


def test_callbacks_with_garbage_redirect_and_change_nothing(api: Api) -> None:
    for fields in ({}, {"status": "10"}, {"status": "x", "id": "1", "order_id": "dz-1"}):
        response = api.call("POST", "/api/v1/payments/callback/mock", data=fields)
        assert response.status_code == 303
        assert response.headers["location"] == "/payments/result/unknown"
    assert api.call("GET", "/payments/result/unknown").status_code == 404
    assert api.call("POST", "/api/v1/payments/callback/paypal", data={"a": "b"}).status_code == 303


def test_payments_show_an_unknown_order(api: Api) -> None:
    shown = CliRunner().invoke(
        cli, ["payments", "show", "dz-nothing"],
        env={"DARVAZA_DATABASE_URL": api.db.url.render_as_string(hide_password=False)},
    )  # fmt: skip
    assert shown.exit_code == 1
    assert "No such payment" in shown.output
