"""`darvaza smoke support-access`: support reaches a tenant's data only under a grant the
tenant's owner approved, the request is in the tenant's access log, and a revoked grant
refuses the very next call."""

from __future__ import annotations

from darvaza.operations.smoke.client import Report, SmokeClient, run_smoke
from darvaza.operations.smoke.fixture import smoke_fixture

GRANT_REQUIRED = "support_grant_required"


def _code(body: object) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def run_support_access(base_url: str, admin_token: str) -> Report:
    # Long because: a smoke check is a script, read top to bottom as the story it tells.
    def steps(client: SmokeClient, report: Report) -> None:
        fixture = smoke_fixture(client, admin_token, {"customer": None, "support": "support_admin"})
        tenant, owner, support = fixture.tenant, fixture.token("owner"), fixture.token("support")
        payments = f"/api/v1/tenants/{tenant}/payments"
        ticket = client.expect(
            201, "POST", f"/api/v1/tenants/{tenant}/tickets", token=fixture.token("customer"),
            json={"subject": "Smoke: support access", "body": "A smoke check's ticket."},
        ).json()  # fmt: skip
        before = client.request("GET", payments, token=support)
        report.check(
            before.status_code == 403 and _code(before.json()) == GRANT_REQUIRED,
            f"without a grant support was answered {before.status_code} {before.text[:120]!r}",
        )
        grant = client.expect(
            201, "POST", "/api/v1/support/grants", token=support,
            json={"tenant": tenant, "ticket_id": ticket["id"], "reason": "Smoke check",
                  "data_classes": ["payments"], "access": "read", "duration_minutes": 10},
        ).json()  # fmt: skip
        grants = f"/api/v1/tenants/{tenant}/support-grants"
        waiting = client.expect(200, "GET", f"{grants}?state=requested", token=owner).json()
        report.check(
            grant["id"] in {g["id"] for g in waiting["items"]},
            "the owner does not see the request waiting",
        )
        approved = client.expect(200, "POST", f"{grants}/{grant['id']}/approve", token=owner,
                                 json={"reason": "Smoke check"}).json()  # fmt: skip
        report.check(approved["state"] == "approved", f"approval left it {approved['state']}")
        under = client.request("GET", payments, token=support)
        report.check(under.status_code == 200, f"under the grant support got {under.status_code}")
        client.expect(200, "POST", f"{grants}/{grant['id']}/revoke", token=owner,
                      json={"reason": "Smoke check done"})  # fmt: skip
        after = client.request("GET", payments, token=support)
        report.check(
            after.status_code == 403 and _code(after.json()) == GRANT_REQUIRED,
            f"after the revocation support was answered {after.status_code}",
        )
        log = client.expect(
            200, "GET", f"/api/v1/tenants/{tenant}/support-actions?grant_id={grant['id']}",
            token=owner,
        ).json()["items"]  # fmt: skip
        logged = [(a["method"], a["route"], a["status"]) for a in log]
        report.check(
            logged == [("GET", "/api/v1/tenants/{tenant}/payments", 200)],
            f"the grant's action log is {logged}, not the one call made under it",
        )
        # Leave no open ticket behind for the SLA check to find.
        desk = f"/api/v1/support/tickets/{ticket['id']}"
        for state in ("solved", "closed"):
            client.expect(200, "PATCH", desk, token=support, json={"state": state})

    return run_smoke("support-access", base_url, steps)
