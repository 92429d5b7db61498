"""`darvaza smoke rbac-admin`: the RBAC matrix, black-box, against a running instance.

It reads every operation and its declared policy (`x-darvaza-policy`) from the server's
OpenAPI document, builds a small world through the admin API (two tenants, an owner of
each, a manager, a customer, and one member of each platform role), then calls every
route as each kind of caller and compares the answer with what the policy promises:

- success (2xx or a redirect) where the policy admits the caller;
- 401 for anonymous callers and for forged, truncated, revoked or malformed credentials;
- 303 to the sign-in page for console pages reached without signing in;
- 403 for a known caller the policy does not admit;
- 404 for an unknown tenant, and for another tenant's (or user's) objects.

A route the server serves with no example here, or an example for a route the server does
not serve, is a deviation too: new routes join the matrix by adding an example.

The world it builds stays behind (users and tenants named `smoke-<run>-…`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from darvaza.operations.smoke.client import Report, SmokeClient, SmokeFailed, run_smoke
from darvaza.operations.smoke.payments import call_back, follow_go_link, pay_with_mock

CALLERS = (
    "anonymous",
    "customer",
    "owner",
    "other_owner",
    "manager",
    "platform_admin",
    "support_admin",
    "auditor",
)
PLATFORM_ROLE = {
    "platform_admin": "platform_admin",
    "support_admin": "support_admin",
    "auditor": "auditor",
}
TENANT_ROLE = {"owner": "owner", "manager": "manager"}  # their role in the world's tenant
# Public routes behind a rate limit are sampled with these callers only, so one run
# spends three of each limit instead of eight.
RATE_LIMITED_SAMPLE = ("anonymous", "customer", "platform_admin")

_CALLER_TOKEN = object()  # a Call's default: the caller's own session token


@dataclass
class Member:
    email: str
    password: str
    user_id: str
    token: str = ""


@dataclass
class Call:
    path: str
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    cookies: dict[str, str] | None = None
    token: Any = _CALLER_TOKEN
    authorization: str | None = None  # a raw Authorization header, for malformed ones
    also_ok: frozenset[int] = frozenset()
    on_success: Callable[[httpx.Response], None] | None = None


@dataclass(frozen=True)
class Example:
    """How to call one route as a given caller. `build(world, caller, admitted)` does the
    setup a call needs only when the caller is `admitted` (expected to succeed); anyone
    else gets a placeholder id, which the policy must refuse before it is ever looked up."""

    build: Callable[[World, str, bool], Call]
    callers: tuple[str, ...] = CALLERS
    # Calls that reach for someone else's object: each must answer 404.
    foreign: Callable[[World], list[tuple[str, Call]]] | None = None


class World:
    """The people and tenants the matrix calls with, made through the admin API."""

    def __init__(self, client: SmokeClient, admin_token: str) -> None:
        self.client = client
        self.admin_token = admin_token
        self.run = secrets.token_hex(4)
        self.counter = 0
        self.members: dict[str, Member] = {}
        self.tenant = f"smoke-{self.run}-a"
        self.other_tenant = f"smoke-{self.run}-b"
        self.plan: dict[str, Any] = {}
        self.item = ""
        self.subscribed: set[str] = set()
        self.payment: dict[str, Any] = {}
        self.mock_id = ""

    def unique(self, what: str) -> str:
        self.counter += 1
        return f"smoke-{self.run}-{what}-{self.counter}"

    def admin(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.expect(status, method, path, token=self.admin_token, **kwargs)
        return response.json() if response.content else None

    def new_user(self, platform_role: str | None = None) -> Member:
        email = f"{self.unique('user')}@example.com"
        password = "smoke-" + secrets.token_urlsafe(18)
        body = {"email": email, "password": password, "platform_role": platform_role}
        user = self.admin(201, "POST", "/api/v1/admin/users", json=body)
        return Member(email, password, user["id"])

    def login(self, member: Member) -> tuple[str, str]:
        body = self.client.expect(
            200,
            "POST",
            "/api/v1/auth/login",
            json={"email": member.email, "password": member.password},
        ).json()
        return body["token"], body["session_id"]

    def token_of(self, caller: str) -> str | None:
        return None if caller == "anonymous" else self.members[caller].token

    def add_manager(self, tenant: str) -> Member:
        member = self.new_user()
        path = f"/api/v1/admin/tenants/{tenant}/managers"
        self.admin(201, "POST", path, json={"email": member.email})
        return member

    def create_plan(self, tenant: str) -> dict[str, Any]:
        body = {
            "code": self.unique("plan"),
            "name": "Smoke plan",
            "price_rials": 150_000,
            "period_days": 30,
        }
        return dict(self.admin(201, "POST", f"/api/v1/tenants/{tenant}/plans", json=body))

    def checkout(self, member: Member) -> dict[str, Any]:
        response = self.client.expect(
            201,
            "POST",
            f"/api/v1/tenants/{self.tenant}/checkout",
            token=member.token,
            json={"plan_code": self.plan["code"]},
        )
        return dict(response.json())

    def pay(self, member: Member) -> str:
        """Buy the world's plan through the mock gateway; the new subscription's id."""
        _, fields = pay_with_mock(self.client, member.token, self.tenant, self.plan["code"])
        call_back(self.client, fields)
        mine = self.client.expect(200, "GET", "/api/v1/me/subscriptions", token=member.token).json()
        return str(
            next(s["id"] for s in mine if s["plan_id"] == self.plan["id"] and s["active_now"])
        )

    def upload(self, *, publish: bool) -> str:
        made = self.admin(
            201,
            "POST",
            f"/api/v1/tenants/{self.tenant}/content",
            data={"title": self.unique("item")},
            files=SMOKE_FILE,
        )
        if publish:
            self.admin(200, "POST", f"/api/v1/tenants/{self.tenant}/content/{made['id']}/publish")
        return str(made["id"])

    def ensure_subscribed(self, caller: str) -> None:
        if caller not in self.subscribed and caller not in ("owner", "manager", "platform_admin"):
            self.pay(self.members[caller])
            self.subscribed.add(caller)

    def download_link(self) -> str:
        self.ensure_subscribed("customer")
        path = f"/api/v1/tenants/{self.tenant}/content/{self.item}/download-token"
        url = self.client.expect(201, "POST", path, token=self.members["customer"].token).json()[
            "url"
        ]
        return "/api/v1/downloads/" + str(url).rsplit("/", 1)[1]

    def build(self) -> None:
        for caller in CALLERS[1:]:
            self.members[caller] = self.new_user(PLATFORM_ROLE.get(caller))
        for slug, owner in ((self.tenant, "owner"), (self.other_tenant, "other_owner")):
            body = {"slug": slug, "name": slug, "owner_email": self.members[owner].email}
            self.admin(201, "POST", "/api/v1/admin/tenants", json=body)
        manager = self.members["manager"]
        self.admin(
            201,
            "POST",
            f"/api/v1/admin/tenants/{self.tenant}/managers",
            json={"email": manager.email},
        )
        for member in self.members.values():
            member.token = self.login(member)[0]
        self.plan = self.create_plan(self.tenant)
        self.payment = self.checkout(self.members["customer"])
        self.mock_id = follow_go_link(self.client, self.payment["redirect_url"]).rsplit("/", 1)[1]
        self.item = self.upload(publish=True)


# --- The examples: one per route --------------------------------------------------------

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def _plain(path: str, **kwargs: Any) -> Example:
    return Example(lambda _w, _c, _a: Call(path, **kwargs))


def _tenant(path: str) -> Example:
    return Example(lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}{path}"))


def _login(w: World, caller: str, _admitted: bool) -> Call:
    member = w.members["customer" if caller == "anonymous" else caller]
    return Call("/api/v1/auth/login", json={"email": member.email, "password": member.password})


def _register(w: World, _caller: str, _admitted: bool) -> Call:
    body = {"email": f"{w.unique('reg')}@example.com", "password": secrets.token_urlsafe(16)}
    return Call("/api/v1/auth/register", json=body)


def _revoke_own_session(w: World, caller: str, admitted: bool) -> Call:
    session_id = w.login(w.members[caller])[1] if admitted else PLACEHOLDER_ID
    return Call(f"/api/v1/auth/sessions/{session_id}")


def _someone_elses_session(w: World) -> list[tuple[str, Call]]:
    _, session_id = w.login(w.members["manager"])
    return [("customer", Call(f"/api/v1/auth/sessions/{session_id}"))]


def _change_password(w: World, caller: str, _admitted: bool) -> Call:
    member = w.members.get(caller) or Member("", "x", "")
    new_password = "smoke-" + secrets.token_urlsafe(18)

    def remember(_response: httpx.Response) -> None:
        member.password = new_password

    body = {"current_password": member.password, "new_password": new_password}
    return Call("/api/v1/auth/password", json=body, on_success=remember)


def _create_user(w: World, _caller: str, _admitted: bool) -> Call:
    body = {"email": f"{w.unique('made')}@example.com", "password": secrets.token_urlsafe(16)}
    return Call("/api/v1/admin/users", json=body)


def _set_role(w: World, _caller: str, admitted: bool) -> Call:
    user_id = w.new_user().user_id if admitted else PLACEHOLDER_ID
    return Call(f"/api/v1/admin/users/{user_id}/platform-role", json={"role": "auditor"})


def _token_body(w: World) -> dict[str, Any]:
    return {"email": w.members["auditor"].email, "name": w.unique("token"), "expires_in_days": 1}


def _create_token(w: World, _caller: str, _admitted: bool) -> Call:
    return Call("/api/v1/admin/api-tokens", json=_token_body(w))


def _revoke_token(w: World, _caller: str, admitted: bool) -> Call:
    token_id = PLACEHOLDER_ID
    if admitted:
        token_id = w.admin(201, "POST", "/api/v1/admin/api-tokens", json=_token_body(w))["id"]
    return Call(f"/api/v1/admin/api-tokens/{token_id}")


def _someone_new(w: World, admitted: bool) -> str:
    """A new account's email for a caller who will succeed; an existing one otherwise."""
    return w.new_user().email if admitted else w.members["customer"].email


def _create_tenant(w: World, _caller: str, admitted: bool) -> Call:
    slug = w.unique("t")
    body = {"slug": slug, "name": slug, "owner_email": _someone_new(w, admitted)}
    return Call("/api/v1/admin/tenants", json=body)


def _add_owner(w: World, _caller: str, admitted: bool) -> Call:
    body = {"email": _someone_new(w, admitted)}
    return Call(f"/api/v1/admin/tenants/{w.tenant}/owners", json=body)


def _invite_manager(w: World, _caller: str, _admitted: bool) -> Call:
    return Call(
        f"/api/v1/tenants/{w.tenant}/managers", json={"email": w.unique("m") + "@example.com"}
    )


def _admin_add_manager(w: World, _caller: str, admitted: bool) -> Call:
    body = {"email": _someone_new(w, admitted)}
    return Call(f"/api/v1/admin/tenants/{w.tenant}/managers", json=body)


# A well-formed one-time token that was never issued: the route must refuse it (422).
UNISSUED_TOKEN = "dzo_" + "A" * 43
# What a link's route answers an admitted caller for a token it never issued: 404 (it is
# well-formed but names nothing; the console's pages show that refusal with its status).
UNISSUED = frozenset({404})


def _remove_manager(w: World, _caller: str, admitted: bool) -> Call:
    user_id = w.add_manager(w.tenant).user_id if admitted else PLACEHOLDER_ID
    return Call(f"/api/v1/tenants/{w.tenant}/managers/{user_id}")


def _another_tenants_manager(w: World) -> list[tuple[str, Call]]:
    theirs = w.add_manager(w.tenant)
    return [("other_owner", Call(f"/api/v1/tenants/{w.other_tenant}/managers/{theirs.user_id}"))]


def _console_login(w: World, caller: str, _admitted: bool) -> Call:
    page = w.client.request("GET", "/console/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or match is None:
        raise SmokeFailed(f"GET /console/login answered {page.status_code} without a form")
    member = w.members["customer" if caller == "anonymous" else caller]
    return Call(
        "/console/login",
        data={"email": member.email, "password": member.password, "csrf_token": match.group(1)},
        cookies={"darvaza_login_csrf": page.cookies.get("darvaza_login_csrf") or ""},
    )


def _console_form(
    page: str, action: str, fields: dict[str, str], also_ok: frozenset[int] = frozenset()
) -> Example:
    """A console form reached before sign-in: fetch the page for its CSRF pair, then post."""

    def build(w: World, _caller: str, _admitted: bool) -> Call:
        shown = w.client.request("GET", page)
        match = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
        if shown.status_code != 200 or match is None:
            raise SmokeFailed(f"GET {page} answered {shown.status_code} without a form")
        return Call(
            action,
            data={**fields, "csrf_token": match.group(1)},
            cookies={"darvaza_form_csrf": shown.cookies.get("darvaza_form_csrf") or ""},
            also_ok=also_ok,
        )

    return Example(build, RATE_LIMITED_SAMPLE)


def _create_plan(w: World, _caller: str, _admitted: bool) -> Call:
    body = {"code": w.unique("p"), "name": "Plan", "price_rials": 90_000, "period_days": 7}
    return Call(f"/api/v1/tenants/{w.tenant}/plans", json=body)


def _change_plan(w: World, _caller: str, admitted: bool) -> Call:
    plan_id = w.create_plan(w.tenant)["id"] if admitted else PLACEHOLDER_ID
    return Call(f"/api/v1/tenants/{w.tenant}/plans/{plan_id}", json={"name": "Renamed"})


def _another_tenants_plan(w: World) -> list[tuple[str, Call]]:
    theirs = w.create_plan(w.tenant)["id"]
    return [
        (
            "other_owner",
            Call(f"/api/v1/tenants/{w.other_tenant}/plans/{theirs}", json={"name": "x"}),
        )
    ]


def _checkout(w: World, _caller: str, _admitted: bool) -> Call:
    return Call(f"/api/v1/tenants/{w.tenant}/checkout", json={"plan_code": w.plan["code"]})


def _another_tenants_payment(w: World) -> list[tuple[str, Call]]:
    path = f"/api/v1/tenants/{w.other_tenant}/payments/{w.payment['payment_id']}"
    return [("other_owner", Call(path))]


def _cancel_subscription(w: World, caller: str, admitted: bool) -> Call:
    subscription_id = w.pay(w.members[caller]) if admitted else PLACEHOLDER_ID
    return Call(f"/api/v1/me/subscriptions/{subscription_id}/cancel")


def _someone_elses_subscription(w: World) -> list[tuple[str, Call]]:
    theirs = w.pay(w.members["manager"])
    return [("customer", Call(f"/api/v1/me/subscriptions/{theirs}/cancel"))]


SMOKE_FILE = {"file": ("smoke.txt", b"smoke test file\n", "text/plain")}


def _item_path(w: World, admitted: bool, suffix: str, *, publish: bool = False) -> str:
    item = w.upload(publish=publish) if admitted else PLACEHOLDER_ID
    return f"/api/v1/tenants/{w.tenant}/content/{item}{suffix}"


def _another_tenants_item(suffix: str, **kwargs: Any) -> Callable[[World], list[tuple[str, Call]]]:
    """Tenant A's item reached through tenant B's path, by B's owner: must be unknown."""

    def foreign(w: World) -> list[tuple[str, Call]]:
        theirs = w.upload(publish=True)
        path = f"/api/v1/tenants/{w.other_tenant}/content/{theirs}{suffix}"
        return [("other_owner", Call(path, **kwargs))]

    return foreign


def _download_token(w: World, caller: str, admitted: bool) -> Call:
    if admitted:
        w.ensure_subscribed(caller)
    return Call(f"/api/v1/tenants/{w.tenant}/content/{w.item}/download-token")


def _some_job(w: World) -> int:
    """A job to look at or act on: the newest queued one, or any, enqueuing upkeep first."""
    for query in ("?state=queued&limit=1", "?limit=1"):
        page = w.admin(200, "GET", "/api/v1/admin/jobs" + query)
        if page["items"]:
            return int(page["items"][0]["id"])
        w.admin(200, "POST", "/api/v1/admin/jobs/enqueue-ops")
    raise SmokeFailed("no job to act on, even after enqueuing the upkeep jobs")


def _job_action(action: str) -> Example:
    """Retry or cancel a job. A worker may take the job between our look and the call,
    and then the answer is a 409 (not retryable / not cancellable), still a pass."""

    def build(w: World, _caller: str, admitted: bool) -> Call:
        job_id = _some_job(w) if admitted else 1
        return Call(f"/api/v1/admin/jobs/{job_id}{action}", also_ok=frozenset({409}))

    return Example(build)


UNKNOWN_CALLBACK = {"status": "10", "id": "none", "order_id": "dz-none", "track_id": "1"}


def _fresh(path: str) -> Example:
    """For a call that ends the session it uses: a new session of the caller's own."""
    return Example(
        lambda w, caller, admitted: Call(
            path, token=w.login(w.members[caller])[0] if admitted else w.token_of(caller)
        )
    )


EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/health"): _plain("/health"),
    ("GET", "/ready"): _plain("/ready"),
    ("GET", "/metrics"): _plain("/metrics", also_ok=frozenset({401})),  # token-protected
    ("GET", "/api/v1/openapi.json"): _plain("/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/register"): Example(_register, RATE_LIMITED_SAMPLE),
    ("POST", "/api/v1/auth/login"): Example(_login, RATE_LIMITED_SAMPLE),
    ("POST", "/api/v1/auth/logout"): _fresh("/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/session"): _plain("/api/v1/auth/session"),
    ("GET", "/api/v1/auth/sessions"): _plain("/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): Example(
        _revoke_own_session, foreign=_someone_elses_session
    ),
    ("POST", "/api/v1/auth/sessions/revoke-others"): _plain("/api/v1/auth/sessions/revoke-others"),
    ("POST", "/api/v1/auth/password"): Example(_change_password),
    ("POST", "/api/v1/admin/users"): Example(_create_user),
    ("GET", "/api/v1/admin/users"): _plain("/api/v1/admin/users"),
    ("PUT", "/api/v1/admin/users/{user_id}/platform-role"): Example(_set_role),
    ("POST", "/api/v1/admin/api-tokens"): Example(_create_token),
    ("GET", "/api/v1/admin/api-tokens"): _plain("/api/v1/admin/api-tokens"),
    ("DELETE", "/api/v1/admin/api-tokens/{token_id}"): Example(_revoke_token),
    ("POST", "/api/v1/admin/tenants"): Example(_create_tenant),
    ("GET", "/api/v1/admin/tenants"): _plain("/api/v1/admin/tenants"),
    ("POST", "/api/v1/admin/tenants/{tenant}/owners"): Example(_add_owner),
    ("GET", "/api/v1/tenants/{tenant}"): _tenant(""),
    ("GET", "/api/v1/tenants/{tenant}/members"): _tenant("/members"),
    ("POST", "/api/v1/tenants/{tenant}/managers"): Example(_invite_manager),
    ("POST", "/api/v1/admin/tenants/{tenant}/managers"): Example(_admin_add_manager),
    ("POST", "/api/v1/invitations/accept"): _plain(
        "/api/v1/invitations/accept", json={"token": UNISSUED_TOKEN}, also_ok=UNISSUED
    ),
    ("POST", "/api/v1/auth/verify-email"): _plain(
        "/api/v1/auth/verify-email", json={"token": UNISSUED_TOKEN}, also_ok=UNISSUED
    ),
    ("POST", "/api/v1/auth/verify-email/resend"): _plain("/api/v1/auth/verify-email/resend"),
    ("POST", "/api/v1/auth/password-reset"): Example(
        lambda w, _c, _a: Call(
            "/api/v1/auth/password-reset", json={"email": w.unique("nobody") + "@example.com"}
        ),
        RATE_LIMITED_SAMPLE,
    ),
    ("POST", "/api/v1/auth/password-reset/confirm"): _plain(
        "/api/v1/auth/password-reset/confirm",
        json={"token": UNISSUED_TOKEN, "new_password": "a-new-long-passphrase"},
        also_ok=UNISSUED,
    ),
    ("DELETE", "/api/v1/tenants/{tenant}/managers/{user_id}"): Example(
        _remove_manager, foreign=_another_tenants_manager
    ),
    ("GET", "/api/v1/admin/audit"): _plain("/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/payments"): _plain("/api/v1/admin/payments?stuck=true"),
    ("GET", "/api/v1/admin/jobs"): _plain("/api/v1/admin/jobs?state=dead"),
    ("GET", "/api/v1/admin/jobs/{job_id}"): _job_action(""),
    ("POST", "/api/v1/admin/jobs/{job_id}/retry"): _job_action("/retry"),
    ("POST", "/api/v1/admin/jobs/{job_id}/cancel"): _job_action("/cancel"),
    ("POST", "/api/v1/admin/jobs/enqueue-ops"): _plain("/api/v1/admin/jobs/enqueue-ops"),
    ("GET", "/api/v1/admin/workers"): _plain("/api/v1/admin/workers"),
    ("GET", "/console/assets/console.css"): _plain("/console/assets/console.css"),
    ("GET", "/console/login"): _plain("/console/login"),
    ("POST", "/console/login"): Example(_console_login, RATE_LIMITED_SAMPLE),
    ("GET", "/console/"): _plain("/console/"),
    ("GET", "/console/reset-password"): _plain("/console/reset-password"),
    ("POST", "/console/reset-password"): _console_form(
        "/console/reset-password", "/console/reset-password", {"email": "nobody@example.com"}
    ),
    ("POST", "/console/reset-password/confirm"): _console_form(
        f"/console/reset-password?token={UNISSUED_TOKEN}",
        "/console/reset-password/confirm",
        {"token": UNISSUED_TOKEN, "new_password": "a-new-long-passphrase"},
        also_ok=UNISSUED,
    ),
    ("GET", "/console/verify-email"): _plain(f"/console/verify-email?token={UNISSUED_TOKEN}"),
    ("POST", "/console/verify-email"): _console_form(
        f"/console/verify-email?token={UNISSUED_TOKEN}",
        "/console/verify-email",
        {"token": UNISSUED_TOKEN},
        also_ok=UNISSUED,
    ),
    ("GET", "/console/invitations"): _plain(f"/console/invitations?token={UNISSUED_TOKEN}"),
    ("POST", "/console/invitations/accept"): _plain(
        "/console/invitations/accept", data={"token": UNISSUED_TOKEN}, also_ok=UNISSUED
    ),
    ("POST", "/console/logout"): _fresh("/console/logout"),
    ("GET", "/api/v1/tenants/{tenant}/plans"): _tenant("/plans"),
    ("GET", "/api/v1/tenants/{tenant}/plans/all"): _tenant("/plans/all"),
    ("POST", "/api/v1/tenants/{tenant}/plans"): Example(_create_plan),
    ("PATCH", "/api/v1/tenants/{tenant}/plans/{plan_id}"): Example(
        _change_plan, foreign=_another_tenants_plan
    ),
    ("POST", "/api/v1/tenants/{tenant}/checkout"): Example(_checkout),
    ("GET", "/api/v1/tenants/{tenant}/payments"): _tenant("/payments"),
    ("GET", "/api/v1/tenants/{tenant}/payments/{payment_id}"): Example(
        lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}/payments/{w.payment['payment_id']}"),
        foreign=_another_tenants_payment,
    ),
    ("GET", "/api/v1/tenants/{tenant}/subscribers"): _tenant("/subscribers"),
    ("GET", "/api/v1/me/payments"): _plain("/api/v1/me/payments"),
    ("GET", "/api/v1/me/subscriptions"): _plain("/api/v1/me/subscriptions"),
    ("POST", "/api/v1/me/subscriptions/{subscription_id}/cancel"): Example(
        _cancel_subscription, foreign=_someone_elses_subscription
    ),
    ("POST", "/api/v1/payments/callback/{gateway}"): _plain(
        "/api/v1/payments/callback/mock", data=UNKNOWN_CALLBACK
    ),
    ("GET", "/api/v1/payments/callback/{gateway}"): _plain(
        "/api/v1/payments/callback/mock?status=10&id=none&order_id=dz-none&track_id=1"
    ),
    ("GET", "/payments/go/{order_id}"): Example(
        lambda w, _c, _a: Call(f"/payments/go/{w.payment['order_id']}")
    ),
    ("GET", "/payments/result/{order_id}"): Example(
        lambda w, _c, _a: Call(f"/payments/result/{w.payment['order_id']}")
    ),
    ("GET", "/mock-gateway/{payment_id}"): Example(
        lambda w, _c, _a: Call(f"/mock-gateway/{w.mock_id}")
    ),
    ("POST", "/mock-gateway/{payment_id}"): Example(
        lambda w, _c, _a: Call(f"/mock-gateway/{w.mock_id}", data={"action": "cancel"})
    ),
    ("POST", "/api/v1/tenants/{tenant}/content"): Example(
        lambda w, _c, _a: Call(
            f"/api/v1/tenants/{w.tenant}/content", data={"title": "Up"}, files=SMOKE_FILE
        )
    ),
    ("PUT", "/api/v1/tenants/{tenant}/content/{item_id}/file"): Example(
        lambda w, _c, a: Call(_item_path(w, a, "/file"), files=SMOKE_FILE),
        foreign=_another_tenants_item("/file", files=SMOKE_FILE),
    ),
    ("PATCH", "/api/v1/tenants/{tenant}/content/{item_id}"): Example(
        lambda w, _c, a: Call(_item_path(w, a, ""), json={"title": "Renamed"})
    ),
    ("POST", "/api/v1/tenants/{tenant}/content/{item_id}/publish"): Example(
        lambda w, _c, a: Call(_item_path(w, a, "/publish")),
        foreign=_another_tenants_item("/publish"),
    ),
    ("POST", "/api/v1/tenants/{tenant}/content/{item_id}/archive"): Example(
        lambda w, _c, a: Call(_item_path(w, a, "/archive", publish=True))
    ),
    ("GET", "/api/v1/tenants/{tenant}/content"): _tenant("/content"),
    ("GET", "/api/v1/tenants/{tenant}/content/all"): _tenant("/content/all"),
    ("POST", "/api/v1/tenants/{tenant}/content/{item_id}/download-token"): Example(_download_token),
    ("POST", "/api/v1/tenants/{tenant}/content/{item_id}/revoke-tokens"): Example(
        lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}/content/{w.item}/revoke-tokens"),
        foreign=_another_tenants_item("/revoke-tokens"),
    ),
    ("GET", "/api/v1/tenants/{tenant}/downloads"): _tenant("/downloads"),
    ("GET", "/api/v1/downloads/{token}"): Example(lambda w, _c, _a: Call(w.download_link())),
    ("PUT", "/api/v1/admin/tenants/{tenant}/gateway"): Example(
        lambda w, _c, _a: Call(
            f"/api/v1/admin/tenants/{w.tenant}/gateway", json={"gateway": "mock"}
        )
    ),
}


# --- Running the matrix -----------------------------------------------------------------


def expected_answer(policy: dict[str, Any], caller: str) -> str:
    """'ok', '401', '403' or '303', from a policy as the server declares it."""
    if policy["anonymous"]:
        return "ok"
    if caller == "anonymous":
        return "303" if policy.get("login_redirect") else "401"
    if policy["any_user"] or PLATFORM_ROLE.get(caller) in policy["platform_roles"]:
        return "ok"
    if policy["tenant_scoped"] and TENANT_ROLE.get(caller) in policy["tenant_roles"]:
        return "ok"
    return "403"


@dataclass
class Matrix:
    client: SmokeClient
    world: World
    report: Report
    bad_credentials: dict[str, str] = field(default_factory=dict)

    def send(self, method: str, call: Call, caller: str) -> httpx.Response:
        token = self.world.token_of(caller) if call.token is _CALLER_TOKEN else call.token
        headers = {"Authorization": call.authorization} if call.authorization else None
        return self.client.request(
            method,
            call.path,
            token=None if call.authorization else token,
            headers=headers,
            json=call.json,
            data=call.data,
            files=call.files,
            cookies=call.cookies,
            follow_redirects=False,
        )

    def judge(self, label: str, expected: str, call: Call, response: httpx.Response) -> None:
        status = response.status_code
        if expected == "ok":
            ok = 200 <= status < 400 or status in call.also_ok
        else:
            ok = status == int(expected) and (expected == "303" or _is_error_shape(response))
        self.report.check(ok, f"{label}: expected {expected}, got {status} {response.text[:160]!r}")
        if ok and expected == "ok" and call.on_success is not None:
            call.on_success(response)

    def run_route(self, method: str, path: str, policy: dict[str, Any], example: Example) -> None:
        for caller in example.callers:
            expected = expected_answer(policy, caller)
            call = example.build(self.world, caller, expected == "ok")
            self.judge(
                f"{method} {path} as {caller}", expected, call, self.send(method, call, caller)
            )
        if not policy["anonymous"]:
            for what, header in self.bad_credentials.items():
                call = example.build(self.world, "anonymous", False)
                call.authorization = header
                self.judge(
                    f"{method} {path} with {what}",
                    "401",
                    call,
                    self.send(method, call, "anonymous"),
                )
        if policy["tenant_scoped"]:
            call = example.build(self.world, "platform_admin", False)
            call.path = call.path.replace(
                f"/{self.world.tenant}", f"/smoke-{self.world.run}-none", 1
            )
            self.judge(
                f"{method} {path} for an unknown tenant",
                "404",
                call,
                self.send(method, call, "platform_admin"),
            )
        if example.foreign is not None:
            for caller, call in example.foreign(self.world):
                self.judge(
                    f"{method} {path} as {caller}, someone else's object",
                    "404",
                    call,
                    self.send(method, call, caller),
                )


def _is_error_shape(response: httpx.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and {"code", "message", "request_id"} <= set(error)


def _bad_credentials(world: World) -> dict[str, str]:
    customer = world.members["customer"]
    revoked, _ = world.login(customer)
    world.client.expect(204, "POST", "/api/v1/auth/logout", token=revoked)
    return {
        "a forged token": "Bearer dzs_" + secrets.token_urlsafe(32),
        "a truncated token": f"Bearer {customer.token[:-6]}",
        "a revoked token": f"Bearer {revoked}",
        "the wrong scheme": f"Token {customer.token}",
        "a bearer with no token": "Bearer",
    }


def served_operations(client: SmokeClient) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> declared policy, from the server's own OpenAPI document."""
    document = client.expect(200, "GET", "/api/v1/openapi.json").json()
    operations: dict[tuple[str, str], dict[str, Any]] = {}
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            operations[(method.upper(), path)] = operation.get("x-darvaza-policy")
    operations[("GET", "/api/v1/openapi.json")] = {
        "anonymous": True,
        "any_user": False,
        "platform_roles": [],
        "tenant_roles": [],
        "tenant_scoped": False,
    }
    return operations


def run_rbac_matrix(
    base_url: str, admin_token: str, *, examples: dict[tuple[str, str], Example] | None = None
) -> Report:
    def steps(client: SmokeClient, report: Report) -> None:
        _run_matrix(client, report, admin_token, EXAMPLES if examples is None else examples)

    return run_smoke("rbac-admin", base_url, steps)


def _run_matrix(
    client: SmokeClient, report: Report, admin_token: str, examples: dict[tuple[str, str], Example]
) -> None:
    who = client.expect(200, "GET", "/api/v1/auth/session", token=admin_token).json()
    if who.get("platform_role") != "platform_admin":
        raise SmokeFailed("the admin token does not belong to a platform admin")
    operations = served_operations(client)
    world = World(client, admin_token)
    world.build()
    matrix = Matrix(client, world, report, _bad_credentials(world))
    for (method, path), policy in sorted(operations.items()):
        if not report.check(policy is not None, f"{method} {path} declares no policy"):
            continue
        example = examples.get((method, path))
        if report.check(example is not None, f"{method} {path} has no example in the matrix"):
            assert example is not None  # noqa: S101 (checked on the line above)
            matrix.run_route(method, path, policy, example)
    for method, path in sorted(set(examples) - set(operations)):
        report.check(False, f"{method} {path} has an example but the server does not serve it")
