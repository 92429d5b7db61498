"""What an operator reaches for: every tenant's payments in one list (mismatched and stuck
ones at a glance), lists that name people and plans by email and code, and the same from
the shell (`darvaza tenants|plans|users|payments`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from darvaza.billing.models import Payment
from darvaza.billing.plans import create_plan
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.security.roles import PlatformRole
from darvaza.tenants.service import create_tenant
from tests.support.world import SYSTEM, Api, Person, error_code, gateway_path, person, return_fields

runner = CliRunner()


def _shop(api: Api, slug: str) -> Person:
    owner = person(api.db)
    tenant = create_tenant(api.db, SYSTEM, slug=slug, name=slug.title(), owner_email=owner.email)
    create_plan(api.db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold",
                price_rials=150_000, period_days=30)  # fmt: skip
    return owner


def _checkout(api: Api, slug: str, who: Person, *, pay: bool) -> str:
    token = api.login(who)
    started = api.call(
        "POST", f"/api/v1/tenants/{slug}/checkout", token=token, json={"plan_code": "gold"}
    ).json()
    if pay:
        page = api.call("POST", gateway_path(api, started["redirect_url"]), data={"action": "pay"})
        fields = return_fields(page)
        assert api.call("POST", "/api/v1/payments/callback/mock", data=fields).status_code == 303
    return str(started["order_id"])


@pytest.fixture
def world(api: Api) -> dict[str, object]:
    acme_owner, _ = _shop(api, "acme"), _shop(api, "globex")
    alice, bob = person(api.db, email="alice@example.com"), person(api.db, email="bob@example.com")
    paid = _checkout(api, "acme", alice, pay=True)
    stuck = _checkout(api, "globex", bob, pay=False)
    fresh = _checkout(api, "acme", bob, pay=False)
    with api.db.transaction() as session:  # one open payment well past its time
        session.execute(
            update(Payment)
            .where(Payment.order_id == stuck)
            .values(created_at=utcnow() - timedelta(hours=2))
        )
        session.execute(update(Payment).where(Payment.order_id == fresh).values(state="mismatch"))
    return {"owner": acme_owner, "paid": paid, "stuck": stuck, "mismatch": fresh}


def test_platform_staff_see_every_tenants_payments_with_what_needs_a_person(
    api: Api, world: dict[str, object]
) -> None:
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    everything = api.call("GET", "/api/v1/admin/payments", token=auditor)
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["attention"] == {"mismatch": 1, "stuck": 1}
    rows = {row["order_id"]: row for row in body["items"]}
    assert set(rows) == {world["paid"], world["stuck"], world["mismatch"]}
    paid = rows[world["paid"]]
    assert (paid["user_email"], paid["tenant_slug"], paid["plan_code"], paid["state"]) == (
        "alice@example.com", "acme", "gold", "paid",
    )  # fmt: skip
    assert rows[world["stuck"]]["stuck"] is True
    assert paid["stuck"] is False

    def orders(**params: object) -> set[str]:
        answer = api.call("GET", "/api/v1/admin/payments", token=auditor, params=params)
        assert answer.status_code == 200, answer.text
        return {row["order_id"] for row in answer.json()["items"]}

    assert orders(stuck=True) == {world["stuck"]}
    assert orders(state="mismatch") == {world["mismatch"]}
    assert orders(tenant="globex") == {world["stuck"]}
    assert orders(tenant="no-such-tenant") == set()
    assert orders(gateway="idpay") == set()
    assert orders(until=(utcnow() - timedelta(hours=1)).isoformat()) == {world["stuck"]}
    # Pages follow each other with no row twice and none left out.
    first = api.call("GET", "/api/v1/admin/payments", token=auditor, params={"limit": 2}).json()
    rest = api.call(
        "GET", "/api/v1/admin/payments", token=auditor,
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()  # fmt: skip
    paged = [row["order_id"] for row in first["items"] + rest["items"]]
    assert sorted(paged) == sorted(rows)


def test_the_platform_list_is_for_platform_staff_only(api: Api, world: dict[str, object]) -> None:
    owner = api.login(world["owner"])  # type: ignore[arg-type]
    refused = api.call("GET", "/api/v1/admin/payments", token=owner)
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    bad = api.call(
        "GET", "/api/v1/admin/payments", token=api.login(person(api.db, PlatformRole.AUDITOR)),
        params={"state": "lost"},
    )  # fmt: skip
    assert bad.status_code == 422


def test_tenant_lists_name_people_and_plans(api: Api, world: dict[str, object]) -> None:
    owner = api.login(world["owner"])  # type: ignore[arg-type]
    listed = api.call("GET", "/api/v1/tenants/acme/payments", token=owner).json()
    assert {(row["user_email"], row["plan_code"]) for row in listed} == {
        ("alice@example.com", "gold"), ("bob@example.com", "gold"),
    }  # fmt: skip
    subscribers = api.call("GET", "/api/v1/tenants/acme/subscribers", token=owner).json()
    assert [(s["user_email"], s["plan_code"]) for s in subscribers] == [
        ("alice@example.com", "gold")
    ]


def test_the_shell_lists_tenants_plans_users_and_payments(
    api: Api, world: dict[str, object], database_url: str
) -> None:
    env = {"DARVAZA_DATABASE_URL": database_url}
    tenants = runner.invoke(cli, ["tenants", "list"], env=env)
    assert tenants.exit_code == 0, tenants.output
    assert [line.split()[0] for line in tenants.output.splitlines()] == ["acme", "globex"]
    shown = runner.invoke(cli, ["tenants", "show", "acme"], env=env)
    assert f"owner: {world['owner'].email}" in shown.output  # type: ignore[attr-defined]
    plans = runner.invoke(cli, ["plans", "list", "--tenant", "acme"], env=env)
    assert plans.output.startswith("gold  Gold  150,000 Rials / 30 days  on sale")
    users = runner.invoke(cli, ["users", "list", "--email", "alice@example.com"], env=env)
    assert "alice@example.com  customer" in users.output
    payments = runner.invoke(cli, ["payments", "list", "--stuck"], env=env)
    assert payments.exit_code == 0, payments.output
    lines = payments.output.splitlines()
    assert lines[0] == "mismatch: 1  stuck: 1"
    assert len(lines) == 2
    assert str(world["stuck"]) in lines[1]
    assert "STUCK" in lines[1]
    assert "bob@example.com" in lines[1]
    missing = runner.invoke(cli, ["tenants", "show", "nope"], env=env)
    assert missing.exit_code == 1


def test_an_admin_locked_out_is_helped_from_the_shell(api: Api, database_url: str) -> None:
    admin = person(api.db, PlatformRole.PLATFORM_ADMIN)
    old_session = api.login(admin)
    new_password = "a-brand-new-long-passphrase"
    reset = runner.invoke(
        cli, ["users", "reset-password", "--email", admin.email],
        env={"DARVAZA_DATABASE_URL": database_url, "DARVAZA_PASSWORD": new_password},
    )  # fmt: skip
    assert reset.exit_code == 0, reset.output
    assert "1 session(s) and token(s) ended" in reset.output
    assert api.call("GET", "/api/v1/auth/session", token=old_session).status_code == 401
    signed_in = api.call(
        "POST", "/api/v1/auth/login", json={"email": admin.email, "password": new_password}
    )
    assert signed_in.status_code == 200
    audit = api.call("GET", "/api/v1/admin/audit", token=signed_in.json()["token"],
                     params={"action": "user.password_set"}).json()  # fmt: skip
    assert [event["target_id"] for event in audit["items"]] == [str(admin.user.id)]
    weak = runner.invoke(
        cli, ["users", "reset-password", "--email", admin.email],
        env={"DARVAZA_DATABASE_URL": database_url, "DARVAZA_PASSWORD": "short"},
    )  # fmt: skip
    assert weak.exit_code == 1
