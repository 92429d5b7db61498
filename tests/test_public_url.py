"""Every link Darvaza gives out starts with its public URL, and in `local` that URL follows
the port it serves on unless it is set: a port change changes every link."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from starlette.types import ASGIApp

from darvaza.billing.plans import create_plan
from darvaza.config import Profile, start_warnings
from darvaza.tenants.service import create_tenant
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Api, make_app, person, return_fields


def test_local_follows_the_port_unless_the_url_is_set() -> None:
    assert make_settings().public_url == "http://127.0.0.1:4000"
    assert make_settings(port=4817).public_url == "http://127.0.0.1:4817"
    assert make_settings(host="0.0.0.0", port=4817).public_url == "http://127.0.0.1:4817"  # noqa: S104
    assert make_settings(host="::", port=4817).public_url == "http://[::1]:4817"
    assert make_settings(port=4817, public_url="https://pay.example").public_url == (
        "https://pay.example"
    )


def test_outside_local_the_url_must_be_set() -> None:
    settings = make_settings(profile=Profile.STAGING, port=4817)
    assert settings.public_url == ""
    assert any("DARVAZA_PUBLIC_URL is not set" in p for p in settings.problems())


def test_a_public_url_naming_this_machine_on_another_port_is_a_warning() -> None:
    staging = {"profile": Profile.STAGING, "port": 4817}
    direct = make_settings(public_url="http://127.0.0.1:4000", **staging)
    assert any("serves on 4817" in w for w in start_warnings(direct, 4817, environ={}))
    proxied = make_settings(public_url="https://members.example", **staging)
    assert start_warnings(proxied, 4817, environ={}) == []
    local = make_settings(port=4817)
    assert start_warnings(local, 4817, environ={}) == []
    typo = start_warnings(local, 4817, environ={"DARVAZA_DATABSE_URL": "sqlite:///x.db"})
    assert typo == ["DARVAZA_DATABSE_URL is not a Darvaza setting (a typo?); it is ignored"]


def test_checkout_the_gateway_and_downloads_link_to_the_port_served_on(
    database_url: str, serve: Callable[[ASGIApp], str], api: Api
) -> None:
    app = make_app(database_url, port=4817)
    base = serve(app)
    client = Api(base, api.db)
    owner, customer = person(api.db), person(api.db)
    tenant = create_tenant(api.db, SYSTEM, slug="acme", name="Acme", owner_email=owner.email)
    create_plan(api.db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold",
                price_rials=150_000, period_days=30)  # fmt: skip
    token = client.login(customer)
    started = client.call(
        "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": "gold"}
    ).json()
    assert started["redirect_url"].startswith("http://127.0.0.1:4817/payments/go/")
    gateway = client.call("GET", httpx.URL(started["redirect_url"]).path).headers["location"]
    assert gateway.startswith("http://127.0.0.1:4817/mock-gateway/")
    back = client.call("POST", httpx.URL(gateway).path, data={"action": "pay"})
    action = re.search(r'<form method="post" action="([^"]+)"', back.text)
    assert action is not None
    assert action.group(1) == "http://127.0.0.1:4817/api/v1/payments/callback/mock"
    fields = return_fields(back)
    assert client.call("POST", "/api/v1/payments/callback/mock", data=fields).status_code == 303
    owner_token = client.login(owner)
    item = client.call(
        "POST", "/api/v1/tenants/acme/content", token=owner_token, data={"title": "Report"},
        files={"file": ("report.pdf", b"%PDF-1.4 report", "application/pdf")},
    ).json()  # fmt: skip
    client.call("POST", f"/api/v1/tenants/acme/content/{item['id']}/publish", token=owner_token)
    link = client.call(
        "POST", f"/api/v1/tenants/acme/content/{item['id']}/download-token", token=token
    ).json()
    assert link["url"].startswith("http://127.0.0.1:4817/api/v1/downloads/dzd_")
    client.close()
