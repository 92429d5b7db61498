"""The smoke fixture over HTTP: made once and reused (two synthetic tenants on the mock
gateway, a plan, the accounts asked for); every call gives new passwords (the old ones and
their sessions stop working) and ends the accounts' subscriptions; a real tenant with the
slug is never taken over; bad labels are 422; only a platform admin may call it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from darvaza.billing.models import Plan, Subscription
from darvaza.clock import utcnow
from darvaza.identity.models import User
from darvaza.security.roles import PlatformRole
from darvaza.tenants.models import Tenant, TenantMembership
from darvaza.tenants.service import create_tenant
from tests.support.world import SYSTEM, Api, admin_token, error_code, person

FIXTURE = "/api/v1/admin/smoke-fixture"


def _prepare(api: Api, token: str, **accounts: str | None) -> dict[str, Any]:
    body = {"accounts": [{"label": k.replace("_", "-"), "platform_role": v}
                         for k, v in accounts.items()]}  # fmt: skip
    answer = api.call("POST", FIXTURE, token, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return {a["label"]: a for a in answer.json()["accounts"]} | {"_": answer.json()}


def _counts(api: Api) -> tuple[int, int, int]:
    with api.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Tenant)) or 0,
            session.scalar(select(func.count()).select_from(Plan)) or 0,
        )


def test_the_fixture_is_made_once_and_refreshed_on_every_call(api: Api) -> None:
    token = admin_token(api.db)
    first = _prepare(api, token, customer=None, auditor="auditor")
    fixture = first["_"]
    assert (fixture["tenant"], fixture["other_tenant"], fixture["plan_code"]) == (
        "smoke", "smoke-other", "smoke",
    )  # fmt: skip
    assert set(first) - {"_"} == {"owner", "other-owner", "customer", "auditor"}
    assert first["customer"]["email"] == "smoke-customer@example.com"
    assert first["auditor"]["platform_role"] == "auditor"
    with api.db.read() as session:
        tenants = session.scalars(select(Tenant).where(Tenant.slug.like("smoke%"))).all()
    assert {(t.slug, t.synthetic, t.payment_gateway) for t in tenants} == {
        ("smoke", True, "mock"), ("smoke-other", True, "mock"),
    }  # fmt: skip
    listed = api.call("GET", "/api/v1/admin/tenants", token).json()
    assert {t["slug"]: t["synthetic"] for t in listed if t["slug"].startswith("smoke")} == {
        "smoke": True, "smoke-other": True,
    }  # fmt: skip

    # The customer buys the plan, with the password the call answered.
    signed_in = api.call("POST", "/api/v1/auth/login", json={
        "email": first["customer"]["email"], "password": first["customer"]["password"],
    })  # fmt: skip
    customer = signed_in.json()["token"]
    bought = api.call(
        "POST", "/api/v1/tenants/smoke/checkout", customer, json={"plan_code": "smoke"}
    )
    assert bought.status_code == 201, bought.text
    with api.db.transaction() as session:  # as the callback would have settled it
        session.add(
            Subscription(
                tenant_id=next(t.id for t in tenants if t.slug == "smoke"),
                user_id=uuid.UUID(first["customer"]["user_id"]),
                plan_id=session.scalars(select(Plan.id).where(Plan.code == "smoke")).one(),
                state="active", started_at=_now(), current_period_end=_now(days=30),
                cancel_at_period_end=False, created_at=_now(), updated_at=_now(),
            )
        )  # fmt: skip
        session.execute(update(Plan).where(Plan.code == "smoke").values(active=False))
    before = _counts(api)

    second = _prepare(api, token, customer=None, auditor="auditor")
    assert _counts(api) == before  # nothing new: the same accounts, tenants and plan
    assert second["customer"]["user_id"] == first["customer"]["user_id"]
    assert second["customer"]["password"] != first["customer"]["password"]
    # The old password and the session made with it end.
    assert api.call("GET", "/api/v1/auth/session", customer).status_code == 401
    stale = api.call("POST", "/api/v1/auth/login",
                     json={"email": first["customer"]["email"],
                           "password": first["customer"]["password"]})  # fmt: skip
    assert stale.status_code == 401
    with api.db.read() as session:
        states = session.scalars(select(Subscription.state)).all()
        plan_active = session.scalars(select(Plan.active).where(Plan.code == "smoke")).one()
    assert states == ["cancelled"]
    assert plan_active  # a retired plan is sold again
    # A role asked for differently is changed.
    third = _prepare(api, token, auditor=None)
    assert third["auditor"]["platform_role"] is None
    with api.db.read() as session:
        role = session.scalars(
            select(User.platform_role).where(User.email == "smoke-auditor@example.com")
        ).one()
    assert role is None


def test_the_fixture_takes_its_accounts_places_as_managers_back(api: Api) -> None:
    """A run makes spare accounts managers; the next call makes them managers no longer,
    in both tenants, and leaves the owners and anyone else's place alone."""
    token = admin_token(api.db)
    first = _prepare(api, token, spare=None)
    outsider = person(api.db)
    spare = first["spare"]["email"]
    for slug, email in (("smoke", spare), ("smoke-other", spare), ("smoke", outsider.user.email)):
        added = api.call(
            "POST", f"/api/v1/admin/tenants/{slug}/managers", token, json={"email": email}
        )
        assert added.status_code == 201, added.text

    _prepare(api, token, spare=None)
    with api.db.read() as session:
        places = session.execute(
            select(User.email, Tenant.slug, TenantMembership.role)
            .join(TenantMembership, TenantMembership.user_id == User.id)
            .join(Tenant, Tenant.id == TenantMembership.tenant_id)
        ).all()  # fmt: skip
    assert sorted(places) == sorted([
        ("smoke-owner@example.com", "smoke", "owner"),
        ("smoke-other-owner@example.com", "smoke-other", "owner"),
        (outsider.user.email, "smoke", "manager"),
    ])  # fmt: skip


def test_a_real_tenant_is_never_taken_over_and_bad_input_is_refused(api: Api) -> None:
    token = admin_token(api.db)
    owner = person(api.db)
    create_tenant(api.db, SYSTEM, slug="smoke", name="A real shop", owner_email=owner.email)
    taken = api.call("POST", FIXTURE, token, json={"accounts": []})
    assert taken.status_code == 409
    assert error_code(taken) == "not_synthetic"
    with api.db.read() as session:  # refused before anything changed
        made = session.scalars(select(User).where(User.email.like("smoke-%"))).all()
    assert made == []
    for accounts in (
        [{"label": "Not A Label"}],
        [{"label": "owner", "platform_role": "auditor"}],
        [{"label": "a"}, {"label": "a", "platform_role": "auditor"}],
        [{"label": f"a{n}"} for n in range(21)],
    ):
        refused = api.call("POST", FIXTURE, token, json={"accounts": accounts})
        assert refused.status_code == 422, accounts
    for role in (PlatformRole.SUPPORT_ADMIN, PlatformRole.AUDITOR, None):
        caller = api.login(person(api.db, role))
        assert api.call("POST", FIXTURE, caller, json={"accounts": []}).status_code == 403


def _now(days: int = 0) -> datetime:
    return utcnow() + timedelta(days=days)
