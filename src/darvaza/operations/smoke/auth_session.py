"""`darvaza smoke auth-session`: register, sign in, ask who I am, sign out, and be refused
afterwards, against a running instance."""

from __future__ import annotations

import secrets

import httpx

from darvaza.operations.smoke.client import Report, SmokeClient, run_smoke
from darvaza.operations.smoke.fixture import smoke_fixture


def run_auth_session(base_url: str, admin_token: str | None = None) -> Report:
    """With a staff token, as the smoke fixture's `session` account (its address is
    registered again, which must answer as for a new one); without, as a new account
    registered for the run, which stays behind."""

    def steps(client: SmokeClient, report: Report) -> None:
        if admin_token:
            account = smoke_fixture(client, admin_token, {"session": None}, sign_in=False)
            email, password = (
                account.accounts["session"].email,
                account.accounts["session"].password,
            )
        else:
            email = f"smoke-{secrets.token_hex(6)}@example.com"
            password = "smoke-" + secrets.token_urlsafe(18)
        _auth_session_steps(client, report, email, password)

    return run_smoke("auth-session", base_url, steps)


def _auth_session_steps(client: SmokeClient, report: Report, email: str, password: str) -> None:
    first = client.expect(
        202, "POST", "/api/v1/auth/register", json={"email": email, "password": password}
    )
    again = client.request(
        "POST", "/api/v1/auth/register", json={"email": email.upper(), "password": password + "y"}
    )
    report.check(
        (again.status_code, again.text) == (first.status_code, first.text),
        f"registering a taken email (in capitals) answered {again.status_code} "
        f"{again.text[:80]!r}, not the same as a new one: it tells who has an account",
    )
    wrong = client.request(
        "POST", "/api/v1/auth/login", json={"email": email, "password": password + "x"}
    )
    report.check(
        wrong.status_code == 401 and _code(wrong) == "invalid_credentials",
        f"a wrong password answered {wrong.status_code} {_code(wrong)}",
    )
    login = client.expect(
        200, "POST", "/api/v1/auth/login", json={"email": email, "password": password}
    ).json()
    token = login.get("token", "")
    report.check(len(token) >= 43, "the session token is shorter than 256 bits of base64")
    who = client.request("GET", "/api/v1/auth/session", token=token)
    report.check(
        who.status_code == 200 and who.json().get("user", {}).get("email") == email,
        f"GET /api/v1/auth/session answered {who.status_code}: {who.text[:200]}",
    )
    if who.status_code == 200:
        report.check(
            who.json().get("platform_role") is None and who.json().get("tenant_roles") == [],
            "a new account should hold no role",
        )
    out = client.request("POST", "/api/v1/auth/logout", token=token)
    report.check(out.status_code == 204, f"logout answered {out.status_code}")
    after = client.request("GET", "/api/v1/auth/session", token=token)
    report.check(
        after.status_code == 401,
        f"the session still works after logout ({after.status_code})",
    )
    anonymous = client.request("GET", "/api/v1/auth/session")
    report.check(
        anonymous.status_code == 401,
        f"GET /api/v1/auth/session without a token answered {anonymous.status_code}",
    )


def _code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("error", {}).get("code")
    except ValueError:
        return None
    return code if isinstance(code, str) else None
