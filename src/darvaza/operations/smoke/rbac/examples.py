"""The RBAC matrix's table: one example call for every route the server serves, and how
to make it for each kind of caller."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx

from darvaza.operations.smoke.client import SmokeFailed
from darvaza.operations.smoke.rbac.world import (
    RATE_LIMITED_SAMPLE,
    SMOKE_FILE,
    Call,
    Example,
    Member,
    World,
)

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def _plain(path: str, **kwargs: Any) -> Example:
    return Example(lambda _w, _c, _a: Call(path, **kwargs))


def _tenant(path: str) -> Example:
    return Example(lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}{path}"))


def _login(w: World, caller: str, _admitted: bool) -> Call:
    member = w.members["customer" if caller == "anonymous" else caller]
    return Call("/api/v1/auth/login", json={"email": member.email, "password": member.password})


def _register(w: World, _caller: str, _admitted: bool) -> Call:
    # An address with an account answers as a new one would, and makes no account.
    body = {"email": w.members["customer"].email, "password": secrets.token_urlsafe(16)}
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


# Routes that make an account or a tenant are called with one that exists: the conflict
# (409) is answered only past the policy, so it shows the caller admitted, and a run
# leaves no account or tenant behind.
TAKEN = frozenset({409})


def _create_user(w: World, _caller: str, _admitted: bool) -> Call:
    body = {"email": w.members["customer"].email, "password": secrets.token_urlsafe(16)}
    return Call("/api/v1/admin/users", json=body, also_ok=TAKEN)


def _set_role(w: World, _caller: str, admitted: bool) -> Call:
    user_id = w.spare().user_id if admitted else PLACEHOLDER_ID
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


def _create_tenant(w: World, _caller: str, _admitted: bool) -> Call:
    body = {"slug": w.tenant, "name": "Taken", "owner_email": w.members["owner"].email}
    return Call("/api/v1/admin/tenants", json=body, also_ok=TAKEN)


def _add_owner(w: World, _caller: str, _admitted: bool) -> Call:
    # Owners are never removed by a route, so a spare made one would stay one.
    body = {"email": w.members["owner"].email}
    return Call(f"/api/v1/admin/tenants/{w.tenant}/owners", json=body, also_ok=TAKEN)


def _invite_manager(w: World, _caller: str, _admitted: bool) -> Call:
    # An invitation makes no account (it waits for someone to accept it).
    return Call(
        f"/api/v1/tenants/{w.tenant}/managers", json={"email": w.unique("m") + "@example.com"}
    )


def _admin_add_manager(w: World, _caller: str, admitted: bool) -> Call:
    body = {"email": w.spare().email if admitted else w.members["customer"].email}
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


# Evidence is append-only, so the matrix never writes any: an admitted caller's record is
# refused for its unknown kind (422), which it only reaches past the policy.
NOT_EVIDENCE = {"kind": "rbac-probe", "name": "rbac-probe", "result": "passed"}
REFUSED_INPUT = frozenset({422})


def _one_evidence(w: World, _caller: str, admitted: bool) -> Call:
    """An existing record when there is one (the instance's own), else a placeholder that
    an admitted caller is answered 404 for."""
    evidence_id = PLACEHOLDER_ID
    if admitted:
        found = w.admin(200, "GET", "/api/v1/admin/evidence?limit=1")["items"]
        evidence_id = found[0]["id"] if found else PLACEHOLDER_ID
    return Call(f"/api/v1/admin/evidence/{evidence_id}", also_ok=UNISSUED)


def _one_restore_point(w: World, _caller: str, admitted: bool) -> Call:
    """The newest restore point when there is one, else an id no restore point has."""
    point_id = "20000101T000000Z-000000"
    if admitted:
        found = w.admin(200, "GET", "/api/v1/admin/backups?limit=1")["items"]
        point_id = found[0]["id"] if found else point_id
    return Call(f"/api/v1/admin/backups/{point_id}", also_ok=UNISSUED)


UNKNOWN_CALLBACK = {"status": "10", "id": "none", "order_id": "dz-none", "track_id": "1"}


def _fresh(path: str) -> Example:
    """For a call that ends the session it uses: a new session of the caller's own."""
    return Example(
        lambda w, caller, admitted: Call(
            path, token=w.login(w.members[caller])[0] if admitted else w.token_of(caller)
        )
    )


API_EXAMPLES: dict[tuple[str, str], Example] = {
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
    ("POST", "/api/v1/admin/evidence"): _plain(
        "/api/v1/admin/evidence", json=NOT_EVIDENCE, also_ok=REFUSED_INPUT
    ),
    # Refused input for the admitted: a real call would give the fixture's accounts new
    # passwords and end the sessions the matrix is calling with.
    ("POST", "/api/v1/admin/smoke-fixture"): _plain(
        "/api/v1/admin/smoke-fixture",
        json={"accounts": [{"label": "owner", "platform_role": "auditor"}]},
        also_ok=REFUSED_INPUT,
    ),
    ("GET", "/api/v1/admin/evidence"): _plain("/api/v1/admin/evidence?kind=smoke"),
    ("GET", "/api/v1/admin/evidence/{evidence_id}"): Example(_one_evidence),
    ("GET", "/api/v1/admin/backups"): _plain("/api/v1/admin/backups?limit=5"),
    ("GET", "/api/v1/admin/backups/{point_id}"): Example(_one_restore_point),
    ("GET", "/api/v1/admin/restore-drills"): _plain("/api/v1/admin/restore-drills?limit=5"),
    ("GET", "/api/v1/admin/ops/summary"): _plain("/api/v1/admin/ops/summary"),
    ("GET", "/api/v1/admin/ops/findings"): _plain("/api/v1/admin/ops/findings?state=open"),
    # A finding that does not exist: admitted callers get 404. The smoke checks never
    # acknowledge a real finding, which would quiet it on the instance they probe.
    ("GET", "/api/v1/admin/ops/findings/{finding_id}"): _plain(
        f"/api/v1/admin/ops/findings/{PLACEHOLDER_ID}", also_ok=UNISSUED
    ),
    ("POST", "/api/v1/admin/ops/findings/{finding_id}/acknowledge"): _plain(
        f"/api/v1/admin/ops/findings/{PLACEHOLDER_ID}/acknowledge",
        json={"reason": "rbac probe", "until": "2100-01-01T00:00:00Z"},
        also_ok=UNISSUED,
    ),
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
