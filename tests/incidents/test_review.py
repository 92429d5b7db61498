"""The post-incident review: a major incident's needs every part and an action item; the
impact is measured from the data; an overdue action item is a finding until done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from darvaza.assembly import assemble
from tests.incidents.conftest import INCIDENTS, act, declare, kinds
from tests.support.checks import run, states
from tests.support.settings import make_settings
from tests.support.world import error_code
from tests.support_desk.conftest import Desk

PARTS = {
    "summary": "Gateway keys rotated without us",
    "impact_notes": "Checkouts failed for an hour",
    "timeline_summary": "Noticed by the callback alerts; rolled back the key",
    "root_causes": "The key lives in one place only",
    "went_well": "Alerts fired within a minute",
    "went_badly": "Nobody knew where the key was kept",
}


def _due(days: int = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _resolved(desk: Desk, severity: str) -> str:
    iid = str(declare(desk, severity=severity)["id"])
    act(desk, iid, "/status", status="resolved")
    return iid


def _review(desk: Desk, iid: str, **body: Any) -> Any:
    return desk.call("admin", "PUT", f"{INCIDENTS}/{iid}/review", json=body)


def test_a_major_review_names_every_part_and_an_action_item(desk: Desk) -> None:
    not_yet = declare(desk, severity="SEV2")["id"]
    early = _review(desk, not_yet, **PARTS)
    assert (early.status_code, error_code(early)) == (409, "invalid_transition")

    iid = _resolved(desk, "SEV2")
    for missing in ("root_causes", "went_badly"):
        answer = _review(desk, iid, **{**PARTS, missing: " "})
        assert (answer.status_code, error_code(answer)) == (422, "review_incomplete")
        [detail] = answer.json()["error"]["details"]
        assert (detail["field"], detail["type"]) == (f"body.{missing}", "missing")
    no_items = _review(desk, iid, **PARTS)
    assert no_items.json()["error"]["details"][0]["field"] == "body.action_items"
    by_customer = _review(desk, iid, **PARTS, action_items=[
        {"title": "Keep the key in two places", "owner_email": desk.people["customer"].email,
         "due_at": _due()}])  # fmt: skip
    assert error_code(by_customer) == "invalid_role_holder"
    past = _review(desk, iid, **PARTS, action_items=[
        {"title": "x", "owner_email": desk.people["admin"].email,
         "due_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}])  # fmt: skip
    assert error_code(past) == "invalid_due_at"
    shown = desk.ok("admin", "GET", f"{INCIDENTS}/{iid}")
    assert (shown["status"], shown["review"], shown["action_items"]) == ("resolved", None, [])

    reviewed = _review(desk, iid, **PARTS, action_items=[
        {"title": "Keep the key in two places", "owner_email": desk.people["admin2"].email,
         "due_at": _due()}])  # fmt: skip
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert (body["status"], body["allowed_statuses"]) == ("reviewed", [])
    assert body["review"]["root_causes"] == PARTS["root_causes"]
    assert body["review"]["written_by"] == desk.people["admin"].email
    [item] = body["action_items"]
    assert (item["owner"], item["done_at"]) == (desk.people["admin2"].email, None)
    assert kinds(desk, iid)[-2:] == ["status", "review"]
    again = _review(desk, iid, **PARTS)
    assert error_code(again) == "invalid_transition"
    by_status = desk.call("admin", "POST", f"{INCIDENTS}/{iid}/status", json={"status": "open"})
    assert by_status.status_code == 409


def test_a_minor_review_needs_only_its_summary(desk: Desk) -> None:
    iid = _resolved(desk, "SEV4")
    empty = _review(desk, iid)
    assert (empty.status_code, error_code(empty)) == (422, "review_incomplete")
    done = _review(desk, iid, summary="A near miss; nothing to change")
    assert done.json()["status"] == "reviewed"
    assert done.json()["action_items"] == []


def test_the_impact_is_counted_from_the_window(desk: Desk) -> None:
    started = datetime.now(UTC) - timedelta(minutes=30)
    iid = declare(desk, severity="SEV3", tenants=["acme"], started_at=started.isoformat())["id"]
    plan = desk.ok("owner", "POST", "/api/v1/tenants/acme/plans", 201, json={
        "code": "gold", "name": "Gold", "price_rials": 10_000, "period_days": 30})  # fmt: skip
    for _ in range(2):
        desk.ok("customer", "POST", "/api/v1/tenants/acme/checkout", 201,
                json={"plan_code": plan["code"]})  # fmt: skip
    desk.ok("other_owner", "POST", "/api/v1/tenants/other/plans", 201, json={
        "code": "gold", "name": "Gold", "price_rials": 10_000, "period_days": 30})  # fmt: skip
    desk.ok("customer", "POST", "/api/v1/tenants/other/checkout", 201, json={"plan_code": "gold"})
    act(desk, iid, "/status", status="resolved")
    reviewed = act(desk, iid, "/review", method="PUT", summary="Checkouts stalled")
    impact = reviewed["review"]["impact"]
    # Only acme's two payments fall to this incident; none were paid.
    assert impact["payments"]["total"] == 2
    assert impact["payments"]["not_paid"] == 0
    assert impact["tenants"] == 1
    assert impact["downloads"]["total"] == 0


def test_an_overdue_action_item_is_a_finding_until_it_is_done(desk: Desk) -> None:
    parts = assemble(make_settings(database_url=str(desk.api.db.engine.url)), desk.api.db)
    iid = _resolved(desk, "SEV1")
    body = _review(desk, iid, **PARTS, action_items=[
        {"title": "Alert on key age", "owner_email": desk.people["admin"].email,
         "due_at": _due(2)}]).json()  # fmt: skip
    item = body["action_items"][0]["id"]
    run(parts, "incidents.action_item_overdue")
    assert states(desk.api.db, "incidents.action_item_overdue") == {}
    desk.travel(timedelta(days=3))
    run(parts, "incidents.action_item_overdue")
    assert states(desk.api.db, "incidents.action_item_overdue") == {item: "open"}
    done = act(desk, iid, f"/action-items/{item}/done")
    assert done["action_items"][0]["done_by"] == desk.people["admin"].email
    twice = desk.call("admin", "POST", f"{INCIDENTS}/{iid}/action-items/{item}/done")
    assert (twice.status_code, error_code(twice)) == (409, "already_done")
    run(parts, "incidents.action_item_overdue")
    assert states(desk.api.db, "incidents.action_item_overdue") == {item: "resolved"}
    assert kinds(desk, iid)[-1] == "action_item"
