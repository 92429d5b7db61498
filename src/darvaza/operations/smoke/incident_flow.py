"""`darvaza smoke incident-flow`: an incident's path through a running instance, from its
declaration by support to its review. It is a SEV4 that is never published: the check
proves the public status page does not show it, and leaves it reviewed (titled as the
smoke check's) in the incidents' list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from darvaza.operations.smoke.client import Report, SmokeClient, run_smoke
from darvaza.operations.smoke.fixture import smoke_fixture

INCIDENTS = "/api/v1/admin/incidents"


def _code(body: object) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def run_incident_flow(base_url: str, admin_token: str) -> Report:
    # Long because: a smoke check is a script, read top to bottom as the story it tells.
    def steps(client: SmokeClient, report: Report) -> None:
        fixture = smoke_fixture(client, admin_token, {"support": "support_admin"})
        support = fixture.token("support")
        admin = client.expect(200, "GET", "/api/v1/auth/session", token=admin_token).json()
        title = f"Smoke: incident flow {datetime.now(UTC):%Y%m%dT%H%M%S}"
        detected = datetime.now(UTC) - timedelta(minutes=5)
        incident = client.expect(
            201, "POST", INCIDENTS, token=support,
            json={"title": title, "severity": "SEV4", "components": ["api"],
                  "tenants": [fixture.tenant], "detected_at": detected.isoformat(),
                  "summary": "A smoke check's incident: nothing is wrong."},
        ).json()  # fmt: skip
        path = f"{INCIDENTS}/{incident['id']}"
        report.check(incident["status"] == "open", f"declared as {incident['status']}")
        report.check(incident["next_update_due_at"] is not None, "no first update is due")
        client.expect(201, "POST", f"{path}/notes", token=support,
                      json={"body": "Smoke: a note from support."})  # fmt: skip
        refused = client.request("POST", f"{path}/updates", token=support,
                                 json={"body": "Support may not post this."})  # fmt: skip
        report.check(refused.status_code == 403, f"support posted an update: {refused.status_code}")
        client.expect(200, "PUT", f"{path}/roles/commander", token=admin_token,
                      json={"email": admin["user"]["email"]})  # fmt: skip
        updated = client.expect(201, "POST", f"{path}/updates", token=admin_token,
                                json={"body": "Smoke: internal update."}).json()  # fmt: skip
        report.check(
            updated["updates"][0]["public"] is False and updated["published_at"] is None,
            "an internal update published the incident",
        )
        early = client.request(
            "POST", f"{path}/status", token=admin_token,
            json={"status": "mitigated", "at": (detected - timedelta(hours=1)).isoformat()},
        )  # fmt: skip
        report.check(
            early.status_code == 422 and _code(early.json()) == "times_out_of_order",
            f"a mitigation before detection was answered {early.status_code}",
        )
        for status in ("mitigated", "resolved"):
            moved = client.expect(200, "POST", f"{path}/status", token=admin_token,
                                  json={"status": status}).json()  # fmt: skip
            report.check(moved["status"] == status, f"{status} left it {moved['status']}")
        back = client.request("POST", f"{path}/status", token=admin_token, json={"status": "open"})
        report.check(
            back.status_code == 409 and "reviewed" in back.text,
            f"a resolved incident moved back to open: {back.status_code}",
        )
        reviewed = client.expect(200, "PUT", f"{path}/review", token=admin_token,
                                 json={"summary": "Smoke: the path works."}).json()  # fmt: skip
        report.check(reviewed["status"] == "reviewed", f"the review left it {reviewed['status']}")
        story = client.expect(200, "GET", f"{path}/timeline", token=admin_token).json()["items"]
        kinds = [event["kind"] for event in story]
        wanted = ["declared", "note", "role", "update", "status", "status", "status", "review"]
        report.check(kinds == wanted, f"the story is {kinds}")
        public = client.expect(200, "GET", "/api/v1/status").text
        report.check(title not in public, "the unpublished incident is on the status page")

    return run_smoke("incident-flow", base_url, steps)
