"""Status updates, the public status page (only what was published: never a note, never a
tenant), mail to the affected tenants' owners, overdue updates as findings, and the
timeline's automatic entries (findings, support grants)."""

from __future__ import annotations

import json
from datetime import timedelta

from darvaza.assembly import assemble
from darvaza.incidents.service import catch_up
from tests.incidents.conftest import INCIDENTS, act, declare, kinds, timeline
from tests.support.checks import findings, run, states
from tests.support.settings import make_settings
from tests.support.world import error_code
from tests.support_desk.conftest import Desk

STATUS = "/api/v1/status"


def _parts(desk: Desk) -> object:
    return assemble(make_settings(database_url=str(desk.api.db.engine.url)), desk.api.db)


def test_the_status_page_shows_only_what_was_published(desk: Desk) -> None:
    quiet = desk.api.call("GET", STATUS).json()
    assert quiet["overall"] == "operational"
    assert (quiet["current"], quiet["recent"]) == ([], [])

    iid = declare(desk, severity="SEV1", components=["payments", "api"],
                  summary="acme's gateway key leaked")["id"]  # fmt: skip
    act(desk, iid, "/notes", expect=201, body="SECRET-NOTE the acme owner called")
    act(desk, iid, "/updates", expect=201, body="INTERNAL-UPDATE suspect the gateway")
    unpublished = desk.api.call("GET", STATUS).json()
    assert unpublished["current"] == []
    assert unpublished["components"]["payments"] == "operational"

    act(desk, iid, "/updates", expect=201, body="Payments are failing; we are on it.", public=True)
    page = desk.api.call("GET", STATUS).json()
    assert page["overall"] == "major_outage"
    assert page["components"]["payments"] == "major_outage"
    assert page["components"]["downloads"] == "operational"
    [current] = page["current"]
    assert [u["body"] for u in current["updates"]] == ["Payments are failing; we are on it."]
    text = json.dumps(page)
    for secret in ("SECRET-NOTE", "INTERNAL-UPDATE", "acme", "Acme", desk.people["admin"].email):
        assert secret not in text, secret
    html = desk.api.call("GET", "/status").text
    assert "Payments are failing; we are on it." in html
    for secret in ("SECRET-NOTE", "INTERNAL-UPDATE", "acme", "Acme"):
        assert secret not in html, secret

    act(desk, iid, "/status", status="mitigated")
    assert desk.api.call("GET", STATUS).json()["components"]["payments"] == "monitoring"
    act(desk, iid, "/status", status="resolved")
    act(desk, iid, "/updates", expect=201, body="Resolved: payments work again.", public=True)
    done = desk.api.call("GET", STATUS).json()
    assert done["overall"] == "operational"
    [recent] = done["recent"]
    assert (recent["status"], recent["updates"][0]["body"]) == (
        "resolved",
        "Resolved: payments work again.",
    )


def test_public_updates_are_mailed_to_the_affected_owners_only(desk: Desk) -> None:
    owner, other = desk.people["owner"].email, desk.people["other_owner"].email
    iid = declare(desk, tenants=["acme"])["id"]
    act(desk, iid, "/updates", expect=201, body="Internal only")
    assert desk.mail_to(owner) == []
    act(desk, iid, "/updates", expect=201, body="Downloads are slow.", public=True)
    [mail] = desk.mail_to(owner)
    assert "Downloads are slow." in mail["text"]
    assert mail["subject"].startswith("[SEV2] Payments fail")
    assert desk.mail_to(other) == []
    everyone = declare(desk, all_tenants=True, tenants=[])["id"]
    act(desk, everyone, "/updates", expect=201, body="Platform-wide.", public=True)
    assert len(desk.mail_to(other)) == 1


def test_mail_to_owners_can_be_turned_off(desk: Desk, serve: object) -> None:
    from tests.support.world import Api, make_app

    url = str(desk.api.db.engine.url)
    quiet = Api(serve(make_app(url, incident_mail_owners=False)), desk.api.db)  # type: ignore[operator]
    token = quiet.login(desk.people["admin"])
    made = quiet.call("POST", INCIDENTS, token=token,
                      json={"title": "x", "severity": "SEV3", "tenants": ["acme"]}
                      ).json()  # fmt: skip
    answer = quiet.call("POST", f"{INCIDENTS}/{made['id']}/updates", token=token,
                        json={"body": "Told the world", "public": True})  # fmt: skip
    assert answer.status_code == 201
    assert desk.mail_to(desk.people["owner"].email) == []
    quiet.close()


def test_an_overdue_update_is_a_finding_until_the_next_update(desk: Desk) -> None:
    parts = _parts(desk)
    iid = declare(desk, severity="SEV1")["id"]
    run(parts, "incidents.update_overdue")  # type: ignore[arg-type]
    assert states(desk.api.db, "incidents.update_overdue") == {}
    desk.travel(timedelta(minutes=31))
    run(parts, "incidents.update_overdue")  # type: ignore[arg-type]
    assert states(desk.api.db, "incidents.update_overdue") == {iid: "open"}
    assert findings(desk.api.db, "incidents.update_overdue")[iid].severity == "high"
    act(desk, iid, "/updates", expect=201, body="Still on it")
    run(parts, "incidents.update_overdue")  # type: ignore[arg-type]
    assert states(desk.api.db, "incidents.update_overdue") == {iid: "resolved"}
    # A resolved incident owes no more updates.
    act(desk, iid, "/status", status="resolved")
    desk.travel(timedelta(hours=2))
    run(parts, "incidents.update_overdue")  # type: ignore[arg-type]
    assert states(desk.api.db, "incidents.update_overdue") == {iid: "resolved"}


def test_declared_from_a_finding_it_links_both_ways_and_suggests_its_tenant(desk: Desk) -> None:
    parts = _parts(desk)
    desk.open_ticket(priority="urgent")
    desk.travel(timedelta(minutes=61))
    run(parts, "support.sla_breached")  # type: ignore[arg-type]
    [finding] = findings(desk.api.db, "support.sla_breached").values()
    incident = declare(desk, tenants=[], finding_id=str(finding.id))
    assert incident["suggested_tenants"] == ["acme"]
    assert [f["code"] for f in incident["findings"]] == ["support.sla_breached"]
    assert kinds(desk, incident["id"]) == ["declared", "finding"]
    shown = desk.ok("auditor", "GET", f"/api/v1/admin/ops/findings/{finding.id}")
    assert shown["finding"]["incident_id"] == incident["id"]
    summary = desk.ok("auditor", "GET", "/api/v1/admin/ops/summary")
    linked = [f for f in summary["findings"] if f["id"] == str(finding.id)]
    assert linked[0]["incident_id"] == incident["id"]
    link = f'href="/console/admin/incidents/{incident["id"]}"'
    assert link in desk.call("admin", "GET", "/console/admin/ops").text
    assert link in desk.call("admin", "GET", f"/console/admin/ops/findings/{finding.id}").text

    elsewhere = declare(desk)
    refused = desk.call("admin", "POST", f"{INCIDENTS}/{elsewhere['id']}/findings",
                        json={"finding_id": str(finding.id)})  # fmt: skip
    assert (refused.status_code, error_code(refused)) == (409, "finding_linked")
    named = act(desk, incident["id"], "", method="PATCH", tenants=["acme"])
    assert (named["tenants"], named["suggested_tenants"]) == (["acme"], [])


def test_support_access_asked_for_an_affected_tenant_joins_the_story(desk: Desk) -> None:
    iid = declare(desk, tenants=["acme"])["id"]
    ticket = desk.open_ticket()
    grant = desk.request_grant(ticket["id"])
    other_ticket = desk.open_ticket("other_owner", tenant="other")
    desk.request_grant(other_ticket["id"], tenant="other")
    # The worker's job writes it in, once however often it runs.
    assert catch_up(desk.api.db) == 1
    assert catch_up(desk.api.db) == 0
    [entry] = [e for e in timeline(desk, iid) if e["kind"] == "support_grant"]
    assert entry["data"]["grant_id"] == grant["id"]
    assert "Checking the payment" in entry["text"]
    # A grant asked for after the incident was resolved is not part of it.
    act(desk, iid, "/status", status="resolved")
    desk.request_grant(desk.open_ticket()["id"])
    assert catch_up(desk.api.db) == 0
    assert kinds(desk, iid).count("support_grant") == 1
