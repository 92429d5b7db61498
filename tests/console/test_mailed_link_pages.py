"""The console pages that mailed links open: choosing a new password, confirming an
address, accepting an invitation. Forms carry CSRF protection; a GET never spends a
token (mail scanners open links); refusals are readable pages, not JSON."""

from __future__ import annotations

import re

import httpx

from darvaza.security.policy import SESSION_COOKIE
from tests.console.test_console import _sign_in
from tests.support.mail import Mailing
from tests.support.world import admin_token, password, person


def _form(api_call: httpx.Response) -> tuple[str, str]:
    match = re.search(r'name="csrf_token" value="([^"]+)"', api_call.text)
    assert match is not None, api_call.text
    return match.group(1), api_call.cookies.get("darvaza_form_csrf") or ""


def test_reset_a_password_through_the_pages(mailing: Mailing) -> None:
    api = mailing.api
    who = person(api.db)
    page = api.call("GET", "/console/reset-password")
    assert 'name="email"' in page.text
    csrf, cookie = _form(page)
    forged = api.call(
        "POST", "/console/reset-password", data={"email": who.email, "csrf_token": "x"},
        cookies={"darvaza_form_csrf": cookie},
    )  # fmt: skip
    assert forged.status_code == 403
    asked = api.call(
        "POST", "/console/reset-password", data={"email": who.email, "csrf_token": csrf},
        cookies={"darvaza_form_csrf": cookie},
    )  # fmt: skip
    assert asked.status_code == 200
    assert "If the address has an account" in asked.text
    token = mailing.link_token(who.email)
    page = api.call("GET", f"/console/reset-password?token={token}")
    assert 'name="new_password"' in page.text
    csrf, cookie = _form(page)
    weak = api.call(
        "POST", "/console/reset-password/confirm",
        data={"token": token, "new_password": "short", "csrf_token": csrf},
        cookies={"darvaza_form_csrf": cookie},
    )  # fmt: skip
    assert weak.status_code == 422
    assert "text/html" in weak.headers["content-type"]
    assert 'role="alert"' in weak.text
    csrf, cookie = _form(weak)
    new_password = password()
    done = api.call(
        "POST", "/console/reset-password/confirm",
        data={"token": token, "new_password": new_password, "csrf_token": csrf},
        cookies={"darvaza_form_csrf": cookie},
    )  # fmt: skip
    assert done.status_code == 200
    assert "Password changed" in done.text
    who.password = new_password
    assert api.login(who)


def test_opening_a_verification_link_does_not_spend_it(mailing: Mailing) -> None:
    api = mailing.api
    api.call(
        "POST", "/api/v1/auth/register", json={"email": "v@example.com", "password": password()}
    )
    token = mailing.link_token("v@example.com")
    for _ in range(2):  # a scanner, then the person
        page = api.call("GET", f"/console/verify-email?token={token}")
        assert page.status_code == 200
    csrf, cookie = _form(page)
    done = api.call(
        "POST", "/console/verify-email", data={"token": token, "csrf_token": csrf},
        cookies={"darvaza_form_csrf": cookie},
    )  # fmt: skip
    assert "Address confirmed" in done.text
    csrf, cookie = _form(api.call("GET", f"/console/verify-email?token={token}"))
    again = api.call(
        "POST", "/console/verify-email", data={"token": token, "csrf_token": csrf},
        cookies={"darvaza_form_csrf": cookie},
    )  # fmt: skip
    assert again.status_code == 410
    assert "used already" in again.text


def test_accept_an_invitation_in_the_console(mailing: Mailing) -> None:
    api = mailing.api
    owner, invitee = person(api.db), person(api.db)
    api.call(
        "POST", "/api/v1/admin/tenants", token=admin_token(api.db),
        json={"slug": "acme", "name": "Acme Learning", "owner_email": owner.email},
    )  # fmt: skip
    api.call(
        "POST", "/api/v1/tenants/acme/managers", token=api.login(owner),
        json={"email": invitee.email},
    )  # fmt: skip
    token = mailing.link_token(invitee.email)
    signed_out = api.call("GET", f"/console/invitations?token={token}")
    assert signed_out.status_code == 303  # sent to sign in first
    cookie, _ = _sign_in(api, invitee)
    page = api.call("GET", f"/console/invitations?token={token}", cookies={SESSION_COOKIE: cookie})
    assert invitee.email in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    no_csrf = api.call(
        "POST", "/console/invitations/accept", data={"token": token},
        cookies={SESSION_COOKIE: cookie},
    )  # fmt: skip
    assert no_csrf.status_code == 403
    accepted = api.call(
        "POST", "/console/invitations/accept",
        data={"token": token, "csrf_token": csrf.group(1)}, cookies={SESSION_COOKIE: cookie},
    )  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    assert "You now manage Acme Learning." in accepted.text
