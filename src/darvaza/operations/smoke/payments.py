"""`darvaza smoke mock-payment` and `darvaza smoke idpay-callback`, against a running
instance whose tenants can pay through the built-in mock gateway (which speaks IDPay's
protocol). Both run in the smoke fixture's tenant, as its owner and its customer."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from darvaza.operations.smoke.client import Report, SmokeClient, SmokeFailed, run_smoke
from darvaza.operations.smoke.fixture import smoke_fixture

_HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def follow_go_link(client: SmokeClient, redirect_url: str) -> str:
    """Follow the checkout's link as the payer's browser would; the gateway page it leads
    to. (The link carries the public URL; its path is asked of the instance under test.)"""
    path = "/" + redirect_url.split("://", 1)[-1].split("/", 1)[1]
    response = client.expect(303, "GET", path, follow_redirects=False)
    return response.headers["location"]


def pay_with_mock(
    client: SmokeClient, token: str, tenant: str, plan_code: str, *, pay: bool = True
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check out and act as the payer on the mock gateway's page; return the checkout and
    the callback fields the gateway hands the browser (not yet sent)."""
    started = client.expect(
        201,
        "POST",
        f"/api/v1/tenants/{tenant}/checkout",
        token=token,
        json={"plan_code": plan_code},
    ).json()
    mock_id = follow_go_link(client, str(started["redirect_url"])).rsplit("/", 1)[1]
    client.expect(200, "GET", f"/mock-gateway/{mock_id}")
    page = client.expect(
        200, "POST", f"/mock-gateway/{mock_id}", data={"action": "pay" if pay else "cancel"}
    )
    return started, dict(_HIDDEN_INPUT.findall(page.text))


def call_back(client: SmokeClient, fields: dict[str, str], *, method: str = "POST") -> str:
    """Send the gateway's callback as the browser would; the result page it leads to."""
    if method == "POST":
        response = client.request(
            "POST", "/api/v1/payments/callback/mock", data=fields, follow_redirects=False
        )
    else:
        response = client.request(
            "GET", "/api/v1/payments/callback/mock", params=fields, follow_redirects=False
        )
    if response.status_code != 303:
        raise SmokeFailed(f"the callback answered {response.status_code}, not a redirect")
    return str(response.headers["location"])


@dataclass
class Shop:
    """The smoke fixture's tenant, its plan, and its owner, customer and stranger, signed in."""

    client: SmokeClient
    tenant: str
    plan: dict[str, Any]
    owner_token: str
    customer_token: str
    stranger_token: str

    @classmethod
    def open(cls, client: SmokeClient, admin_token: str) -> Shop:
        fixture = smoke_fixture(client, admin_token, {"customer": None, "stranger": None})
        plans = client.expect(200, "GET", f"/api/v1/tenants/{fixture.tenant}/plans").json()
        plan = next((p for p in plans if p["code"] == fixture.plan_code), None)
        if plan is None:
            raise SmokeFailed(f"the smoke tenant sells no plan {fixture.plan_code}")
        return cls(
            client, fixture.tenant, plan, fixture.token("owner"), fixture.token("customer"),
            fixture.token("stranger"),
        )  # fmt: skip

    def pay(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The customer checks out the plan and pays on the mock gateway (not called back)."""
        return pay_with_mock(self.client, self.customer_token, self.tenant, self.plan["code"])

    def subscriptions(self) -> list[dict[str, Any]]:
        found = self.client.expect(
            200, "GET", "/api/v1/me/subscriptions", token=self.customer_token
        ).json()
        return [s for s in found if s["plan_id"] == self.plan["id"]]

    def payment(self, payment_id: str) -> dict[str, Any]:
        path = f"/api/v1/tenants/{self.tenant}/payments/{payment_id}"
        return dict(self.client.expect(200, "GET", path, token=self.owner_token).json())


def run_mock_payment(base_url: str, admin_token: str) -> Report:
    def steps(client: SmokeClient, report: Report) -> None:
        shop = Shop.open(client, admin_token)
        started, fields = shop.pay()
        report.check(
            fields.get("status") == "10", f"the mock gateway returned status {fields.get('status')}"
        )
        where = call_back(client, fields)
        report.check(
            where == f"/payments/result/{started['order_id']}",
            f"the callback sent the payer to {where}",
        )
        page = client.request("GET", where)
        # The page's words are in the deployment's language; its marker is not.
        report.check(
            'data-payment-state="paid"' in page.text,
            "the result page does not say the payment was received",
        )
        active = [s for s in shop.subscriptions() if s["active_now"]]
        report.check(len(active) == 1, f"{len(active)} active subscriptions, expected 1")
        payment = shop.payment(started["payment_id"])
        report.check(payment["state"] == "paid", f"the payment is {payment['state']}, not paid")
        report.check(bool(payment["gateway_reference"]), "the payment has no gateway receipt")

    return run_smoke("mock-payment", base_url, steps)


def run_idpay_callback(base_url: str, admin_token: str) -> Report:
    """Replays, a tampered amount, another order's gateway id and an unknown order id:
    none may activate anything it should not, and all end on the result page."""

    def steps(client: SmokeClient, report: Report) -> None:
        shop = Shop.open(client, admin_token)
        started, fields = shop.pay()
        tampered = {**fields, "amount": "1000"}
        call_back(client, tampered)
        payment = shop.payment(started["payment_id"])
        report.check(
            payment["state"] == "paid" and payment["amount_rials"] == shop.plan["price_rials"],
            f"a tampered amount gave {payment['state']} at {payment['amount_rials']} Rials",
        )
        for method in ("POST", "GET", "POST"):
            call_back(client, fields, method=method)
        report.check(
            len(shop.subscriptions()) == 1, "replayed callbacks made more than one subscription"
        )
        kinds = [e["kind"] for e in shop.payment(started["payment_id"])["events"]]
        report.check(kinds.count("activated") == 1, f"activated {kinds.count('activated')} times")
        report.check(kinds.count("replay_ignored") >= 3, "replays were not recorded as ignored")

        second, second_fields = shop.pay()
        forged = {**second_fields, "id": fields["id"]}  # the first payment's gateway id
        call_back(client, forged)
        state = shop.payment(second["payment_id"])["state"]
        report.check(
            state == "pending", f"a callback with another order's id left the payment {state}"
        )

        unknown = {**fields, "order_id": f"dz-{secrets.token_hex(12)}"}
        where = call_back(client, unknown)
        report.check(
            where == "/payments/result/unknown", f"an unknown order id was sent to {where}"
        )
        call_back(client, second_fields)
        report.check(
            shop.payment(second["payment_id"])["state"] == "paid",
            "the genuine callback then failed",
        )

    return run_smoke("idpay-callback", base_url, steps)
