"""Incidents: declaring, every transition, the times kept in order, roles with their
history, notes, mitigation steps tied to evidence, links, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from darvaza.audit.models import AuditEvent
from darvaza.operations.service import Run, record_evidence
from darvaza.security.caller import Actor
from tests.incidents.conftest import INCIDENTS, act, declare, kinds, timeline
from tests.support.concurrency import race
from tests.support.settings import make_settings
from tests.support.world import error_code
from tests.support_desk.conftest import Desk


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _evidence(desk: Desk, kind: str, result: str = "passed") -> str:
    settings = make_settings(database_url=str(desk.api.db.engine.url))
    found = record_evidence(desk.api.db, settings, Actor.system("test"), Run(kind, "drill", result))
    return str(found.id)


def test_declare_names_the_declarer_commander_and_sets_the_first_update_due(desk: Desk) -> None:
    started = datetime.now(UTC) - timedelta(hours=1)
    incident = declare(desk, severity="SEV1", started_at=_iso(started),
                       detected_at=_iso(started + timedelta(minutes=20)))  # fmt: skip
    assert incident["status"] == "open"
    assert incident["commander"] == desk.people["admin"].email
    assert incident["tenants"] == ["acme"]
    assert incident["allowed_statuses"] == ["cancelled", "mitigated", "resolved"]
    declared = _at(incident["declared_at"])
    # SEV1 is updated every 30 minutes by default.
    assert _at(incident["next_update_due_at"]) - declared == timedelta(minutes=30)
    assert incident["time_to_detect_seconds"] == pytest.approx(20 * 60, abs=1)
    assert incident["time_to_mitigate_seconds"] is None
    [first] = timeline(desk, incident["id"])
    assert (first["kind"], first["actor"]) == ("declared", desk.people["admin"].email)
    with desk.api.db.read() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == incident["id"])
        ).all()
    assert "incident.declared" in actions


def test_every_transition_and_the_refused_ones_name_what_is_allowed(desk: Desk) -> None:
    incident = declare(desk)
    iid = incident["id"]
    mitigated = act(desk, iid, "/status", status="mitigated", reason="rolled back")
    assert mitigated["status"] == "mitigated"
    assert mitigated["time_to_mitigate_seconds"] is not None
    reopened = act(desk, iid, "/status", status="open", reason="it came back")
    assert (reopened["status"], reopened["mitigated_at"]) == ("open", None)
    act(desk, iid, "/status", status="mitigated")
    resolved = act(desk, iid, "/status", status="resolved")
    assert resolved["status"] == "resolved"
    assert resolved["next_update_due_at"] is None
    assert resolved["allowed_statuses"] == ["reviewed"]
    back = desk.call("admin", "POST", f"{INCIDENTS}/{iid}/status", json={"status": "open"})
    assert back.status_code == 409
    assert error_code(back) == "invalid_transition"
    assert "may become: reviewed" in back.json()["error"]["message"]
    review = desk.call("admin", "POST", f"{INCIDENTS}/{iid}/status", json={"status": "resolved"})
    assert error_code(review) == "invalid_transition"
    statuses = [e["data"].get("to") for e in timeline(desk, iid) if e["kind"] == "status"]
    assert statuses == ["mitigated", "open", "mitigated", "resolved"]

    # Open straight to resolved: contained when it ended.
    other = declare(desk, severity="SEV4")
    done = act(desk, other["id"], "/status", status="resolved")
    assert done["mitigated_at"] == done["resolved_at"]

    # Declared by mistake: cancelled, and final.
    mistake = declare(desk, severity="SEV3")
    cancelled = act(desk, mistake["id"], "/status", status="cancelled", reason="false alarm")
    assert (cancelled["status"], cancelled["allowed_statuses"]) == ("cancelled", [])
    again = desk.call("admin", "POST", f"{INCIDENTS}/{mistake['id']}/status",
                      json={"status": "open"})  # fmt: skip
    assert again.status_code == 409
    assert "nothing (it is final)" in again.json()["error"]["message"]
    public = desk.call("admin", "POST", f"{INCIDENTS}/{mistake['id']}/updates",
                       json={"body": "All fine", "public": True})  # fmt: skip
    assert (public.status_code, error_code(public)) == (409, "incident_cancelled")


def test_times_out_of_order_are_refused_and_change_nothing(desk: Desk) -> None:
    now = datetime.now(UTC)
    late_start = desk.call("admin", "POST", INCIDENTS, json={
        "title": "x", "severity": "SEV3", "started_at": _iso(now - timedelta(minutes=5)),
        "detected_at": _iso(now - timedelta(minutes=10))})  # fmt: skip
    assert (late_start.status_code, error_code(late_start)) == (422, "times_out_of_order")
    future = desk.call("admin", "POST", INCIDENTS, json={
        "title": "x", "severity": "SEV3", "detected_at": _iso(now + timedelta(hours=1)),
    })  # fmt: skip
    assert error_code(future) == "times_out_of_order"

    incident = declare(desk, detected_at=_iso(now - timedelta(minutes=30)))
    iid = incident["id"]
    after_detection = desk.call("admin", "PATCH", f"{INCIDENTS}/{iid}",
                                json={"started_at": _iso(now - timedelta(minutes=10))})  # fmt: skip
    assert (after_detection.status_code, error_code(after_detection)) == (422, "times_out_of_order")
    before_detection = desk.call("admin", "POST", f"{INCIDENTS}/{iid}/status", json={
        "status": "mitigated", "at": _iso(now - timedelta(hours=1))})  # fmt: skip
    assert error_code(before_detection) == "times_out_of_order"
    shown = desk.ok("admin", "GET", f"{INCIDENTS}/{iid}")
    assert (shown["status"], shown["started_at"]) == ("open", incident["started_at"])
    assert kinds(desk, iid) == ["declared"]

    # A correction that keeps the order is taken and told.
    earlier = _iso(now - timedelta(hours=2))
    fixed = act(desk, iid, "", method="PATCH", started_at=earlier, reason="logs show earlier")
    assert _at(fixed["started_at"]) == _at(earlier)
    [times] = [e for e in timeline(desk, iid) if e["kind"] == "times"]
    assert "logs show earlier" in times["text"]
    assert times["data"]["before"]["started_at"] == incident["started_at"].replace("Z", "+00:00")


def test_roles_are_platform_staff_and_keep_their_history(desk: Desk) -> None:
    customer = desk.people["customer"].email
    refused = desk.call("admin", "POST", INCIDENTS,
                        json={"title": "x", "severity": "SEV3",
                              "commander_email": customer})  # fmt: skip
    assert (refused.status_code, error_code(refused)) == (422, "invalid_role_holder")
    unknown = desk.call("admin", "POST", INCIDENTS, json={
        "title": "x", "severity": "SEV3", "commander_email": "nobody@example.com"})  # fmt: skip
    assert error_code(unknown) == "invalid_role_holder"

    incident = declare(desk, commander_email=desk.people["support"].email)
    iid = incident["id"]
    assert incident["commander"] == desk.people["support"].email
    act(desk, iid, "/roles/commander", method="PUT", email=desk.people["admin2"].email)
    act(desk, iid, "/roles/scribe", method="PUT", email=desk.people["auditor"].email)
    shown = act(desk, iid, "/roles/communications", method="PUT", email=desk.people["admin"].email)
    assert (shown["commander"], shown["scribe"], shown["communications"]) == (
        desk.people["admin2"].email,
        desk.people["auditor"].email,
        desk.people["admin"].email,
    )
    no_commander = desk.call("admin", "PUT", f"{INCIDENTS}/{iid}/roles/commander",
                             json={"email": None})  # fmt: skip
    assert error_code(no_commander) == "invalid_role_holder"
    by_customer = desk.call("admin", "PUT", f"{INCIDENTS}/{iid}/roles/scribe",
                            json={"email": customer})  # fmt: skip
    assert error_code(by_customer) == "invalid_role_holder"
    history = [(e["data"]["role"], e["text"]) for e in timeline(desk, iid) if e["kind"] == "role"]
    assert history[0] == ("commander", f"Commander: {desk.people['support'].email} → "
                                       f"{desk.people['admin2'].email}")  # fmt: skip
    assert [role for role, _ in history] == ["commander", "scribe", "communications"]


def test_severity_is_data_and_a_more_severe_incident_is_due_sooner(desk: Desk) -> None:
    severities = desk.ok("auditor", "GET", "/api/v1/admin/incident-severities")
    assert [(s["name"], s["major"], s["update_every_minutes"]) for s in severities] == [
        ("SEV1", True, 30),
        ("SEV2", True, 60),
        ("SEV3", False, 240),
        ("SEV4", False, 1440),
    ]
    incident = declare(desk, severity="SEV4")
    raised = act(desk, incident["id"], "", method="PATCH", severity="SEV1", reason="spreading")
    assert _at(raised["next_update_due_at"]) - datetime.now(UTC) < timedelta(minutes=31)
    [change] = [e for e in timeline(desk, incident["id"]) if e["kind"] == "severity"]
    assert change["text"] == "Severity SEV4 → SEV1 (spreading)"


def test_mitigation_steps_name_real_evidence_of_their_kind(desk: Desk) -> None:
    iid = declare(desk)["id"]
    path = f"{INCIDENTS}/{iid}/mitigations"
    step = {"kind": "rollback", "description": "Back to 0017", "result": "succeeded"}
    missing = desk.call("admin", "POST", path, json=step)
    assert (missing.status_code, error_code(missing)) == (422, "evidence_required")
    unknown = desk.call("admin", "POST", path, json={**step, "evidence_id": str(iid)})
    assert error_code(unknown) == "invalid_evidence"
    wrong_kind = desk.call("admin", "POST", path,
                           json={**step, "evidence_id": _evidence(desk, "backup")})  # fmt: skip
    assert error_code(wrong_kind) == "invalid_evidence"
    rollback = _evidence(desk, "rollback")
    shown = act(desk, iid, "/mitigations", expect=201, **step, evidence_id=rollback)
    [done] = shown["mitigations"]
    assert (done["kind"], done["evidence_id"], done["performed_by"]) == (
        "rollback",
        rollback,
        desk.people["admin"].email,
    )
    restore = act(desk, iid, "/mitigations", expect=201, kind="restore", result="partial",
                  description="files back",
                  evidence_id=_evidence(desk, "restore", "failed"))  # fmt: skip
    assert [m["kind"] for m in restore["mitigations"]] == ["rollback", "restore"]
    act(desk, iid, "/mitigations", expect=201, kind="config_change", result="succeeded",
        description="Raised the pool size")  # fmt: skip
    steps = [e for e in timeline(desk, iid) if e["kind"] == "mitigation"]
    assert [s["data"].get("evidence_result") for s in steps] == ["passed", "failed", None]

    drill = _evidence(desk, "restore_drill")
    linked = act(desk, iid, "/evidence", expect=201, evidence_id=drill)
    assert linked["id"] == iid
    twice = desk.call("admin", "POST", f"{INCIDENTS}/{iid}/evidence", json={"evidence_id": drill})
    assert (twice.status_code, error_code(twice)) == (409, "already_linked")
    assert kinds(desk, iid)[-1] == "evidence"


def test_who_may_do_what(desk: Desk) -> None:
    by_support = declare(desk, "support")
    iid = by_support["id"]
    assert by_support["commander"] == desk.people["support"].email
    act(desk, iid, "/notes", "support", 201, body="Looking at the gateway logs")
    for who, method, path, body in [
        ("support", "POST", "/updates", {"body": "x"}),
        ("support", "POST", "/status", {"status": "mitigated"}),
        ("auditor", "POST", "/notes", {"body": "x"}),
        ("owner", "GET", "", None),
        ("customer", "GET", "/timeline", None),
    ]:
        answer = desk.call(who, method, f"{INCIDENTS}/{iid}{path}", json=body)
        assert answer.status_code == 403, (who, path)
    assert desk.call("auditor", "POST", INCIDENTS, json={"title": "x", "severity": "SEV3"}
                     ).status_code == 403  # fmt: skip
    assert desk.ok("auditor", "GET", f"{INCIDENTS}/{iid}")["id"] == iid
    assert desk.ok("auditor", "GET", INCIDENTS)["items"][0]["id"] == iid
    missing = desk.call("auditor", "GET", f"{INCIDENTS}/{desk.people['admin'].user.id}")
    assert (missing.status_code, error_code(missing)) == (404, "incident_not_found")


def test_two_people_resolving_at_once_one_wins_the_other_hears_the_state(desk: Desk) -> None:
    for _ in range(3):
        iid = declare(desk)["id"]
        answers: list[Any] = []

        def resolve(who: str, into: list[Any] = answers, incident: str = iid) -> None:
            into.append(desk.call(who, "POST", f"{INCIDENTS}/{incident}/status",
                                  json={"status": "resolved"}))  # fmt: skip

        race(lambda: resolve("admin"), lambda: resolve("admin2"))
        assert sorted(a.status_code for a in answers) == [200, 409]
        [refused] = [a for a in answers if a.status_code == 409]
        assert "A resolved incident cannot become resolved" in refused.json()["error"]["message"]
        assert [e["data"]["to"] for e in timeline(desk, iid) if e["kind"] == "status"] == [
            "resolved"
        ]


def test_durations_and_open_incidents_are_metrics(desk: Desk) -> None:
    started = datetime.now(UTC) - timedelta(minutes=50)
    iid = declare(desk, severity="SEV1", started_at=_iso(started),
                  detected_at=_iso(started + timedelta(minutes=10)))["id"]  # fmt: skip
    declare(desk, severity="SEV3")
    act(desk, iid, "/status", status="resolved")
    text = desk.api.call("GET", "/metrics").text
    assert 'darvaza_incidents_active{severity="SEV3",status="open"} 1.0' in text
    assert 'darvaza_incidents_active{severity="SEV1",status="open"} 0.0' in text
    assert 'darvaza_incident_time_to_detect_seconds_count{severity="SEV1"} 1.0' in text
    assert 'darvaza_incident_time_to_detect_seconds_sum{severity="SEV1"} 600.0' in text
    wanted = 'darvaza_incident_time_to_resolve_seconds_sum{severity="SEV1"}'
    [resolved] = [line for line in text.splitlines() if line.startswith(wanted)]
    assert 50 * 60 <= float(resolved.split()[-1]) < 52 * 60
