"""The RBAC matrix's console pages: one example call for every page, as for the API's
routes. Pages answer a bearer token as the API does (no CSRF token is needed then), so
the matrix posts their forms with each caller's token."""

from __future__ import annotations

import re
from dataclasses import replace

from darvaza.operations.smoke.client import SmokeFailed
from darvaza.operations.smoke.rbac.examples import (
    API_EXAMPLES,
    PLACEHOLDER_ID,
    UNISSUED,
    UNISSUED_TOKEN,
    _another_tenants_item,
    _fresh,
    _plain,
)
from darvaza.operations.smoke.rbac.world import RATE_LIMITED_SAMPLE, Call, Example, World


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


# Where the API's paths are in the console: a page does what its API route does.
_PAGE_PATHS = (
    # The pages whose path differs from their route's in more than the prefix.
    (re.compile(r"^/api/v1/auth/sessions/([^/]+)$"), r"/console/me/sessions/\1/end"),
    (re.compile(r"^/api/v1/auth/password$"), "/console/me/password"),
    (re.compile(r"^/api/v1/admin/users/([^/]+)/platform-role$"), r"/console/admin/users/\1/role"),
    (re.compile(r"^/api/v1/admin/api-tokens/([^/]+)$"), r"/console/admin/api-tokens/\1/revoke"),
    (re.compile(r"^/api/v1/tenants/([^/]+)/managers/([^/]+)$"),
     r"/console/t/\1/manage/managers/\2/remove"),
    (re.compile(r"^/api/v1/tenants/([^/]+)/(plans|payments|subscribers|content|downloads|managers)"),
     r"/console/t/\1/manage/\2"),
    (re.compile(r"^/api/v1/admin/(jobs|workers|audit|users|api-tokens)"), r"/console/admin/\1"),
    (re.compile(r"^/api/v1/me/"), "/console/me/"),
    (re.compile(r"^/api/v1/admin/payments"), "/console/admin/payments"),
    (re.compile(r"^/api/v1/admin/tenants"), "/console/admin/tenants"),
)  # fmt: skip


def _page_path(path: str) -> str:
    for pattern, page in _PAGE_PATHS:
        if pattern.match(path):
            return pattern.sub(page, path, count=1)
    return path


def _as_form(call: Call) -> Call:
    """The API's call as the page's: the same setup, the page's path, its body as a form."""
    fields = call.data
    if isinstance(call.json, dict):
        fields = {key: str(value) for key, value in call.json.items() if value is not None}
    path = _page_path(call.path)
    if not path.startswith("/console/"):
        raise SmokeFailed(f"{call.path} has no console page in the matrix's map")
    return replace(call, path=path, json=None, data=fields)


def _page_of(method: str, api_path: str) -> Example:
    """The page version of an API route's example (its foreign calls included)."""
    api = API_EXAMPLES[(method, api_path)]

    def build(w: World, caller: str, admitted: bool) -> Call:
        return _as_form(api.build(w, caller, admitted))

    def foreign_calls(w: World) -> list[tuple[str, Call]]:
        found = api.foreign(w) if api.foreign is not None else []
        return [(who, _as_form(call)) for who, call in found]

    return Example(build, api.callers, foreign_calls if api.foreign is not None else None)


def _download(w: World, caller: str, admitted: bool) -> Call:
    if admitted:
        w.ensure_subscribed(caller)
    return Call(f"/console/t/{w.tenant}/downloads/{w.item}")


def _plan_page(w: World, _caller: str, admitted: bool) -> Call:
    plan_id = w.create_plan(w.tenant)["id"] if admitted else PLACEHOLDER_ID
    return Call(f"/console/t/{w.tenant}/manage/plans/{plan_id}")


def _tenant_page(path: str) -> Example:
    return Example(lambda w, _c, _a: Call(f"/console/t/{w.tenant}{path}"))


PAGE_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/console/assets/console.css"): _plain("/console/assets/console.css"),
    ("GET", "/console/assets/console.js"): _plain("/console/assets/console.js"),
    ("GET", "/console/assets/htmx.min.js"): _plain("/console/assets/htmx.min.js"),
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
    ("POST", "/console/language"): _plain(
        "/console/language", data={"language": "en", "next": "/console/"}
    ),
    ("GET", "/console/me/sessions"): _plain("/console/me/sessions"),
    ("POST", "/console/me/sessions/{session_id}/end"): _page_of(
        "DELETE", "/api/v1/auth/sessions/{session_id}"
    ),
    ("POST", "/console/me/sessions/end-others"): _plain("/console/me/sessions/end-others"),
    ("GET", "/console/me/password"): _plain("/console/me/password"),
    ("POST", "/console/me/password"): _page_of("POST", "/api/v1/auth/password"),
    ("GET", "/console/admin/users"): _plain("/console/admin/users"),
    ("POST", "/console/admin/users"): _page_of("POST", "/api/v1/admin/users"),
    ("POST", "/console/admin/users/{user_id}/role"): _page_of(
        "PUT", "/api/v1/admin/users/{user_id}/platform-role"
    ),
    ("GET", "/console/admin/api-tokens"): _plain("/console/admin/api-tokens"),
    ("POST", "/console/admin/api-tokens"): _page_of("POST", "/api/v1/admin/api-tokens"),
    ("POST", "/console/admin/api-tokens/{token_id}/revoke"): _page_of(
        "DELETE", "/api/v1/admin/api-tokens/{token_id}"
    ),
    # Billing.
    ("GET", "/console/t/{tenant}/plans"): _tenant_page("/plans"),
    ("POST", "/console/t/{tenant}/checkout"): Example(
        lambda w, _c, _a: Call(
            f"/console/t/{w.tenant}/checkout", data={"plan_code": w.plan["code"]}
        )
    ),
    ("GET", "/console/t/{tenant}/checkout/{order_id}"): Example(
        lambda w, _c, _a: Call(f"/console/t/{w.tenant}/checkout/{w.payment['order_id']}")
    ),
    ("GET", "/console/me/subscriptions"): _plain("/console/me/subscriptions"),
    ("POST", "/console/me/subscriptions/{subscription_id}/cancel"): _page_of(
        "POST", "/api/v1/me/subscriptions/{subscription_id}/cancel"
    ),
    ("GET", "/console/me/payments"): _plain("/console/me/payments"),
    ("GET", "/console/t/{tenant}/manage/plans"): _tenant_page("/manage/plans"),
    ("POST", "/console/t/{tenant}/manage/plans"): _page_of(
        "POST", "/api/v1/tenants/{tenant}/plans"
    ),
    ("GET", "/console/t/{tenant}/manage/plans/{plan_id}"): Example(_plan_page),
    ("POST", "/console/t/{tenant}/manage/plans/{plan_id}"): _page_of(
        "PATCH", "/api/v1/tenants/{tenant}/plans/{plan_id}"
    ),
    ("GET", "/console/t/{tenant}/manage/payments"): _tenant_page("/manage/payments"),
    ("GET", "/console/t/{tenant}/manage/payments/{payment_id}"): _page_of(
        "GET", "/api/v1/tenants/{tenant}/payments/{payment_id}"
    ),
    ("GET", "/console/t/{tenant}/manage/subscribers"): _tenant_page("/manage/subscribers"),
    ("GET", "/console/admin/payments"): _plain("/console/admin/payments?stuck=true"),
    ("GET", "/console/admin/payments/{payment_id}"): Example(
        lambda w, _c, _a: Call(f"/console/admin/payments/{w.payment['payment_id']}")
    ),
    ("POST", "/console/admin/tenants/{tenant}/gateway"): _page_of(
        "PUT", "/api/v1/admin/tenants/{tenant}/gateway"
    ),
    # Content.
    ("GET", "/console/t/{tenant}/downloads"): _tenant_page("/downloads"),
    ("POST", "/console/t/{tenant}/downloads/{item_id}"): Example(_download),
    ("GET", "/console/t/{tenant}/manage/content"): _tenant_page("/manage/content"),
    ("POST", "/console/t/{tenant}/manage/content"): _page_of(
        "POST", "/api/v1/tenants/{tenant}/content"
    ),
    ("GET", "/console/t/{tenant}/manage/content/{item_id}"): Example(
        lambda w, _c, _a: Call(f"/console/t/{w.tenant}/manage/content/{w.item}"),
        foreign=lambda w: [(who, _as_form(call)) for who, call in _another_tenants_item("")(w)],
    ),
    ("POST", "/console/t/{tenant}/manage/content/{item_id}"): _page_of(
        "PATCH", "/api/v1/tenants/{tenant}/content/{item_id}"
    ),
    ("POST", "/console/t/{tenant}/manage/content/{item_id}/file"): _page_of(
        "PUT", "/api/v1/tenants/{tenant}/content/{item_id}/file"
    ),
    ("POST", "/console/t/{tenant}/manage/content/{item_id}/publish"): _page_of(
        "POST", "/api/v1/tenants/{tenant}/content/{item_id}/publish"
    ),
    ("POST", "/console/t/{tenant}/manage/content/{item_id}/archive"): _page_of(
        "POST", "/api/v1/tenants/{tenant}/content/{item_id}/archive"
    ),
    ("POST", "/console/t/{tenant}/manage/content/{item_id}/revoke-tokens"): _page_of(
        "POST", "/api/v1/tenants/{tenant}/content/{item_id}/revoke-tokens"
    ),
    ("GET", "/console/t/{tenant}/manage/downloads"): _tenant_page("/manage/downloads"),
    # Jobs and the audit log.
    ("GET", "/console/admin/jobs"): _plain("/console/admin/jobs?state=dead"),
    ("GET", "/console/admin/jobs/{job_id}"): _page_of("GET", "/api/v1/admin/jobs/{job_id}"),
    ("POST", "/console/admin/jobs/{job_id}/retry"): _page_of(
        "POST", "/api/v1/admin/jobs/{job_id}/retry"
    ),
    ("POST", "/console/admin/jobs/{job_id}/cancel"): _page_of(
        "POST", "/api/v1/admin/jobs/{job_id}/cancel"
    ),
    ("GET", "/console/admin/workers"): _plain("/console/admin/workers"),
    ("GET", "/console/admin/ops"): _plain("/console/admin/ops"),
    # As for the API: a finding that does not exist, never a real one acknowledged.
    ("GET", "/console/admin/ops/findings/{finding_id}"): _plain(
        f"/console/admin/ops/findings/{PLACEHOLDER_ID}", also_ok=UNISSUED
    ),
    ("POST", "/console/admin/ops/findings/{finding_id}/acknowledge"): _plain(
        f"/console/admin/ops/findings/{PLACEHOLDER_ID}/acknowledge",
        data={"reason": "rbac probe", "hours": "1"},
        also_ok=UNISSUED,
    ),
    ("GET", "/console/admin/evidence"): _plain("/console/admin/evidence?kind=smoke"),
    ("GET", "/console/admin/backups"): _plain("/console/admin/backups"),
    ("GET", "/console/admin/audit"): _plain("/console/admin/audit?action=plan."),
    ("GET", "/console/admin/audit/verify"): _plain("/console/admin/audit/verify"),
    # Tenants.
    ("GET", "/console/t/{tenant}/manage/managers"): _tenant_page("/manage/managers"),
    ("POST", "/console/t/{tenant}/manage/managers"): _page_of(
        "POST", "/api/v1/tenants/{tenant}/managers"
    ),
    ("POST", "/console/t/{tenant}/manage/managers/{user_id}/remove"): _page_of(
        "DELETE", "/api/v1/tenants/{tenant}/managers/{user_id}"
    ),
    ("GET", "/console/admin/tenants"): _plain("/console/admin/tenants"),
    ("POST", "/console/admin/tenants"): _page_of("POST", "/api/v1/admin/tenants"),
    ("GET", "/console/admin/tenants/{tenant}"): Example(
        lambda w, _c, _a: Call(f"/console/admin/tenants/{w.tenant}")
    ),
    ("POST", "/console/admin/tenants/{tenant}/owners"): _page_of(
        "POST", "/api/v1/admin/tenants/{tenant}/owners"
    ),
    ("POST", "/console/admin/tenants/{tenant}/managers"): _page_of(
        "POST", "/api/v1/admin/tenants/{tenant}/managers"
    ),
}
