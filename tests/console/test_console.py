"""Console sessions: an HttpOnly, SameSite=Lax cookie (Secure outside local) and a CSRF
token on every state-changing request made with it. Bearer calls need no CSRF token."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from starlette.types import ASGIApp

from darvaza.billing.plans import create_plan
from darvaza.db import Database
from darvaza.security.policy import SESSION_COOKIE
from darvaza.tenants.service import create_tenant
from tests.support.world import SYSTEM, Api, Person, admin_token, make_app, person


def _sign_in(api: Api, who: Person) -> tuple[str, httpx.Response]:
    page = api.call("GET", "/console/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = api.call(
        "POST", "/console/login",
        data={"email": who.email, "password": who.password, "csrf_token": token.group(1)},
        cookies={"darvaza_login_csrf": page.cookies["darvaza_login_csrf"]},
    )  # fmt: skip
    return response.cookies.get(SESSION_COOKIE) or "", response


def _set_cookie(response: httpx.Response, name: str) -> str:
    return next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(name)
    )


def who_email_in(page: httpx.Response) -> bool:
    return 'class="who"' in page.text


def test_sign_in_sets_a_safe_session_cookie(api: Api) -> None:
    cookie, response = _sign_in(api, person(api.db))
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    header = _set_cookie(response, SESSION_COOKIE).lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" not in header  # local profile
    home = api.call("GET", "/console/", cookies={SESSION_COOKIE: cookie})
    assert home.status_code == 200
    assert who_email_in(home)


def test_the_cookie_is_secure_outside_local(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    app = make_app(
        database_url,
        profile="staging",
        secret_key="s" * 40,
        audit_key="a" * 40,
        public_url="https://members.example.com",
    )
    staging = Api(serve(app), db)
    try:
        _, response = _sign_in(staging, person(db))
        assert "secure" in _set_cookie(response, SESSION_COOKIE).lower()
    finally:
        staging.close()


def test_a_wrong_password_shows_the_form_again(api: Api) -> None:
    who = person(api.db)
    _, response = _sign_in(api, Person(who.user, "not-the-password"))
    assert response.status_code == 401
    assert "The email or password is wrong." in response.text
    assert f'value="{who.email}"' in response.text  # the form again, with what was typed
    assert SESSION_COOKIE not in response.cookies


def test_sign_in_without_the_forms_token_is_refused(api: Api) -> None:
    who = person(api.db)
    response = api.call(
        "POST", "/console/login",
        data={"email": who.email, "password": who.password, "csrf_token": "forged"},
        cookies={"darvaza_login_csrf": "something-else"},
    )  # fmt: skip
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(api: Api) -> None:
    response = api.call("GET", "/console/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/"


def test_state_changes_with_the_cookie_need_the_csrf_token(api: Api) -> None:
    cookie, _ = _sign_in(api, person(api.db))
    jar = {SESSION_COOKIE: cookie}
    home = api.call("GET", "/console/", cookies=jar)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf is not None

    forged = api.call("POST", "/console/logout", data={"csrf_token": "0" * 64}, cookies=jar)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"
    missing = api.call("POST", "/api/v1/auth/sessions/revoke-others", cookies=jar)
    assert missing.status_code == 403
    with_header = api.call(
        "POST", "/api/v1/auth/sessions/revoke-others",
        cookies=jar, headers={"X-CSRF-Token": csrf.group(1)},
    )  # fmt: skip
    assert with_header.status_code == 200
    assert api.call("GET", "/console/", cookies=jar).status_code == 200  # still signed in

    out = api.call("POST", "/console/logout", data={"csrf_token": csrf.group(1)}, cookies=jar)
    assert out.status_code == 303
    assert api.call("GET", "/console/", cookies=jar).status_code == 303


def test_reads_with_the_cookie_need_no_csrf_token(api: Api) -> None:
    cookie, _ = _sign_in(api, person(api.db))
    who = api.call("GET", "/api/v1/auth/session", cookies={SESSION_COOKIE: cookie})
    assert who.status_code == 200
    assert who.json()["credential"]["via_cookie"] is True


def test_bearer_calls_need_no_csrf_token(api: Api) -> None:
    token = api.login(person(api.db))
    assert api.call("POST", "/api/v1/auth/sessions/revoke-others", token=token).status_code == 200
    assert api.call("POST", "/console/logout", token=token).status_code == 303


def test_pages_pass_the_content_security_policy(api: Api) -> None:
    page = api.call("GET", "/console/login")
    assert "<style" not in page.text  # no inline style: the CSP forbids it
    sheet = api.call("GET", "/console/assets/console.css")
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/css")


def test_a_console_refusal_is_a_page_for_a_browser_and_the_error_shape_otherwise(
    api: Api,
) -> None:
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8", "accept-language": "en"}
    page = api.call("GET", "/console/no-such-page", headers=browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    assert page.headers["x-request-id"] in page.text  # to quote when asking for help
    assert '<a href="/console/">' in page.text
    wrong_method = api.call("DELETE", "/console/login", headers=browser)
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "GET, POST")
    assert "Method Not Allowed" in wrong_method.text
    client = api.call("GET", "/console/no-such-page")
    assert client.json()["error"]["code"] == "not_found"
    outside = api.call("GET", "/api/v1/no-such-route", headers=browser)
    assert outside.json()["error"]["code"] == "not_found"  # the API always answers JSON


def test_the_checkout_form_stays_on_this_site_and_hands_over_by_a_page(api: Api) -> None:
    """A form's answer may not redirect to another site (the content policy's
    `form-action 'self'` binds its redirects): the checkout form leads to a page of ours,
    which moves on to the gateway by itself (`<meta http-equiv="refresh">`)."""
    owner, customer = person(api.db), person(api.db)
    tenant = create_tenant(api.db, SYSTEM, slug="acme", name="Acme", owner_email=owner.email)
    create_plan(api.db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold",
                price_rials=150_000, period_days=30)  # fmt: skip
    token = api.login(customer)
    sent = api.call("POST", "/console/t/acme/checkout", token=token, data={"plan_code": "gold"})
    assert sent.status_code == 303
    where = sent.headers["location"]
    assert where.startswith("/console/t/acme/checkout/dz-")
    handoff = api.call("GET", where, token=token)
    order_id = where.rsplit("/", 1)[1]
    assert f'http-equiv="refresh" content="0; url=/payments/go/{order_id}"' in handoff.text


def test_a_filter_left_at_any_is_the_empty_choice_a_form_sends(api: Api) -> None:
    token = admin_token(api.db)
    for path in (
        "/console/admin/payments?state=&tenant=&gateway=",
        "/console/admin/jobs?state=&kind=",
    ):
        assert api.call("GET", path, token=token).status_code == 200, path
    wrong = api.call("GET", "/console/admin/jobs?state=nonsense", token=token)
    assert wrong.status_code == 422
