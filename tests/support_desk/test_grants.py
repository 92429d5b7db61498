"""Support access grants: every state, who may move it, working under one, and what the
tenant sees of it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from darvaza.assembly import assemble
from darvaza.audit.models import AuditEvent
from darvaza.support.service import end_due_grants
from tests.support.checks import run, states
from tests.support.concurrency import race
from tests.support.settings import make_settings
from tests.support.world import error_code
from tests.support_desk.conftest import Desk

PAYMENTS = "/api/v1/tenants/acme/payments"
GRANTS = "/api/v1/tenants/acme/support-grants"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _history(grant: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(e["event"], e["from_state"], e["to_state"]) for e in grant["history"]]


def _actions(desk: Desk, grant_id: str) -> list[dict[str, Any]]:
    return list(
        desk.ok("owner", "GET", f"/api/v1/tenants/acme/support-actions?grant_id={grant_id}")[
            "items"
        ]
    )


def test_request_approve_work_revoke_and_refused_at_once(desk: Desk) -> None:
    ticket = desk.open_ticket()
    before = desk.call("support", "GET", PAYMENTS)
    assert before.status_code == 403
    assert error_code(before) == "support_grant_required"
    grant = desk.request_grant(ticket["id"], duration_minutes=90)
    assert grant["state"] == "requested"
    assert grant["ends_at"] is None
    assert _at(grant["decide_by"]) - _at(grant["requested_at"]) == timedelta(hours=12)
    # The owner is told by mail; the manager is not (owners decide).
    mail = desk.mail_to(desk.people["owner"].email)
    assert len(mail) == 1
    assert "Checking the payment" in mail[0]["text"]
    assert "/console/t/acme/manage/support" in mail[0]["text"]
    assert desk.mail_to(desk.people["manager"].email) == []
    pending = desk.ok("owner", "GET", f"{GRANTS}?state=requested")["items"]
    assert [g["id"] for g in pending] == [grant["id"]]
    # Still refused until approved.
    assert error_code(desk.call("support", "GET", PAYMENTS)) == "support_grant_required"
    approved = desk.approve(grant["id"], reason="go ahead")
    assert approved["state"] == "approved"
    assert _at(approved["ends_at"]) - _at(approved["approved_at"]) == timedelta(minutes=90)
    assert desk.call("support", "GET", PAYMENTS).status_code == 200
    # Read only: a change, and data classes the grant does not name, stay refused.
    plan = {"code": "gold", "name": "Gold", "price_rials": 1000, "period_days": 30}
    assert error_code(desk.call("support", "POST", "/api/v1/tenants/acme/plans", json=plan)) == (
        "support_grant_required"
    )
    assert error_code(desk.call("support", "GET", "/api/v1/tenants/acme/members")) == (
        "support_grant_required"
    )
    # Nothing a grant can name reaches the tenant's people, or another tenant.
    managers = desk.call("support", "POST", "/api/v1/tenants/acme/managers",
                         json={"email": desk.people["customer"].email})  # fmt: skip
    assert managers.status_code == 403
    assert error_code(managers) == "forbidden"
    assert error_code(desk.call("support", "GET", "/api/v1/tenants/other/payments")) == (
        "support_grant_required"
    )
    revoked = desk.ok("owner", "POST", f"{GRANTS}/{grant['id']}/revoke", json={"reason": "done"})
    assert revoked["state"] == "revoked"
    assert revoked["ended_at"] is not None
    assert error_code(desk.call("support", "GET", PAYMENTS)) == "support_grant_required"
    assert _history(revoked) == [
        ("requested", None, "requested"),
        ("approved", "requested", "approved"),
        ("revoked", "approved", "revoked"),
    ]
    # Exactly the one request admitted under the grant is in its log (refusals are not
    # made under it).
    log = _actions(desk, grant["id"])
    assert [(a["method"], a["route"], a["status"]) for a in log] == [
        ("GET", "/api/v1/tenants/{tenant}/payments", 200)
    ]
    with desk.api.db.read() as session:
        used = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "support_grant.used")
        ).all()
        assert len(used) == 1
        assert used[0].actor_id == str(desk.people["support"].user.id)
        assert used[0].data["support_grant_id"] == grant["id"]


def test_a_write_grant_allows_the_actions_it_names_and_reads_its_classes(desk: Desk) -> None:
    ticket = desk.open_ticket()
    grant = desk.request_grant(ticket["id"], data_classes=["subscriptions"], access="write",
                               actions=["subscriptions.create_plan"])  # fmt: skip
    desk.approve(grant["id"])
    plan = {"code": "gold", "name": "Gold", "price_rials": 10000, "period_days": 30}
    created = desk.call("support", "POST", "/api/v1/tenants/acme/plans", json=plan)
    assert created.status_code == 201, created.text
    assert desk.call("support", "GET", "/api/v1/tenants/acme/plans/all").status_code == 200
    change = desk.call("support", "PATCH", f"/api/v1/tenants/acme/plans/{created.json()['id']}",
                       json={"name": "Golden"})  # fmt: skip
    assert error_code(change) == "support_grant_required"
    log = _actions(desk, grant["id"])
    assert sorted((a["method"], a["status"]) for a in log) == [("GET", 200), ("POST", 201)]
    # The change it made names the grant in the audit log, with the support admin as actor.
    with desk.api.db.read() as session:
        made = session.scalars(select(AuditEvent).where(AuditEvent.action == "plan.created")).one()
    assert made.actor_id == str(desk.people["support"].user.id)
    assert made.actor_role == "support_admin"
    assert made.data["support_grant_id"] == grant["id"]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"reason": ""}, 422, None),
        ({"duration_minutes": 481}, 422, "invalid_duration"),
        ({"data_classes": []}, 422, None),
        ({"data_classes": ["secrets"]}, 422, None),
        ({"access": "write", "actions": []}, 422, "invalid_scope"),
        ({"access": "write", "actions": ["content.publish"]}, 422, "invalid_scope"),
        ({"access": "read", "actions": ["tickets.reply"], "data_classes": ["tickets"]}, 422,
         "invalid_scope"),
        ({"tenant": "nope"}, 404, None),
        ({"tenant": "other"}, 422, "invalid_ticket"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused(desk: Desk, fields: dict[str, Any], status: int,
                                  code: str | None) -> None:  # fmt: skip
    ticket = desk.open_ticket()
    body = {"tenant": "acme", "ticket_id": ticket["id"], "reason": "Checking",
            "data_classes": ["payments"], "access": "read", **fields}  # fmt: skip
    response = desk.call("support", "POST", "/api/v1/support/grants", json=body)
    assert response.status_code == status, response.text
    if code:
        assert error_code(response) == code


def test_only_support_admins_ask_and_only_owners_decide(desk: Desk) -> None:
    ticket = desk.open_ticket()
    body = {
        "tenant": "acme",
        "ticket_id": ticket["id"],
        "reason": "x",
        "data_classes": ["payments"],
    }
    asked = desk.call("admin", "POST", "/api/v1/support/grants", json=body)
    assert asked.status_code == 403  # platform admins need no grant
    assert desk.call("owner", "POST", "/api/v1/support/grants", json=body).status_code == 403
    grant = desk.request_grant(ticket["id"])
    for who in ("manager", "support", "customer", "other_owner"):
        refused = desk.call(who, "POST", f"{GRANTS}/{grant['id']}/approve", json={})
        assert refused.status_code == 403, who
    # Another tenant's owner, on their own tenant's path, does not find it.
    elsewhere = f"/api/v1/tenants/other/support-grants/{grant['id']}/approve"
    other = desk.call("other_owner", "POST", elsewhere, json={})
    assert other.status_code == 404
    alone = desk.call("admin", "POST", f"{GRANTS}/{grant['id']}/approve", json={})
    assert error_code(alone) == "break_glass_required"


def test_nobody_approves_their_own_request(desk: Desk) -> None:
    from darvaza.security.roles import TenantRole
    from darvaza.tenants.service import add_member, find_tenant
    from tests.support.world import SYSTEM

    add_member(desk.api.db, SYSTEM, tenant_id=find_tenant(desk.api.db, "acme").id,
               email=desk.people["support"].email, role=TenantRole.OWNER)  # fmt: skip
    desk.travel(timedelta())  # the new role ended their sessions
    grant = desk.request_grant(desk.open_ticket()["id"])
    own = desk.call("support", "POST", f"{GRANTS}/{grant['id']}/approve", json={})
    assert error_code(own) == "own_request"


def test_an_undecided_request_expires_and_cannot_be_approved(desk: Desk) -> None:
    grant = desk.request_grant(desk.open_ticket()["id"])
    desk.travel(timedelta(hours=12, minutes=1))
    late = desk.call("owner", "POST", f"{GRANTS}/{grant['id']}/approve", json={})
    assert late.status_code == 409
    assert error_code(late) == "grant_expired"
    shown = desk.ok("owner", "GET", f"{GRANTS}/{grant['id']}")
    assert shown["state"] == "expired"
    assert _history(shown)[-1] == ("expired", "requested", "expired")


def test_a_withdrawn_request_cannot_be_approved(desk: Desk) -> None:
    grant = desk.request_grant(desk.open_ticket()["id"])
    by_other = desk.call("support2", "POST", f"/api/v1/support/grants/{grant['id']}/withdraw",
                         json={})  # fmt: skip
    assert error_code(by_other) == "not_yours"
    desk.ok("support", "POST", f"/api/v1/support/grants/{grant['id']}/withdraw", json={})
    late = desk.call("owner", "POST", f"{GRANTS}/{grant['id']}/approve", json={})
    assert late.status_code == 409
    assert error_code(late) == "grant_withdrawn"


def test_deny_and_withdraw_after_approval(desk: Desk) -> None:
    ticket = desk.open_ticket()
    denied = desk.request_grant(ticket["id"])
    out = desk.ok("owner", "POST", f"{GRANTS}/{denied['id']}/deny", json={"reason": "not now"})
    assert out["state"] == "denied"
    assert out["decided_by"] == desk.people["owner"].email
    used = desk.request_grant(ticket["id"])
    desk.approve(used["id"])
    assert desk.call("support", "GET", PAYMENTS).status_code == 200
    given_up = desk.ok("support", "POST", f"/api/v1/support/grants/{used['id']}/withdraw", json={})
    assert given_up["state"] == "withdrawn"
    assert error_code(desk.call("support", "GET", PAYMENTS)) == "support_grant_required"


def test_a_grant_ends_when_its_time_is_over_counted_from_approval(desk: Desk) -> None:
    grant = desk.request_grant(desk.open_ticket()["id"], duration_minutes=30)
    desk.travel(timedelta(hours=2))  # waiting for a decision takes none of the 30 minutes
    desk.approve(grant["id"])
    desk.travel(timedelta(minutes=29))
    assert desk.call("support", "GET", PAYMENTS).status_code == 200
    desk.travel(timedelta(minutes=2))
    assert error_code(desk.call("support", "GET", PAYMENTS)) == "support_grant_required"
    assert end_due_grants(desk.api.db) == {"ended": 1, "expired": 0}
    assert end_due_grants(desk.api.db) == {"ended": 0, "expired": 0}
    shown = desk.ok("owner", "GET", f"{GRANTS}/{grant['id']}")
    assert shown["state"] == "ended"
    revoke = desk.call("owner", "POST", f"{GRANTS}/{grant['id']}/revoke", json={})
    assert error_code(revoke) == "grant_ended"


def test_closing_the_ticket_ends_its_grants(desk: Desk) -> None:
    ticket = desk.open_ticket()
    active = desk.request_grant(ticket["id"])
    desk.approve(active["id"])
    waiting = desk.request_grant(ticket["id"])
    desk.ok("support", "PATCH", f"/api/v1/support/tickets/{ticket['id']}", json={"state": "solved"})
    desk.ok("support", "PATCH", f"/api/v1/support/tickets/{ticket['id']}", json={"state": "closed"})
    assert desk.ok("owner", "GET", f"{GRANTS}/{active['id']}")["state"] == "ended"
    assert desk.ok("owner", "GET", f"{GRANTS}/{waiting['id']}")["state"] == "withdrawn"
    assert error_code(desk.call("support", "GET", PAYMENTS)) == "support_grant_required"
    closed = desk.call("support", "POST", "/api/v1/support/grants", json={
        "tenant": "acme", "ticket_id": ticket["id"], "reason": "x", "data_classes": ["payments"],
    })  # fmt: skip
    assert error_code(closed) == "ticket_closed"


def test_break_glass_is_short_and_a_finding_until_someone_else_reviews_it(
    desk: Desk, database_url: str
) -> None:
    parts = assemble(make_settings(database_url=database_url), desk.api.db)
    grant = desk.request_grant(desk.open_ticket()["id"], duration_minutes=240)
    no_reason = desk.call("admin", "POST", f"{GRANTS}/{grant['id']}/approve",
                          json={"break_glass": True})  # fmt: skip
    assert error_code(no_reason) == "break_glass_required"
    approved = desk.approve(grant["id"], who="admin", break_glass=True, reason="outage, owner away")
    assert approved["break_glass"] is True
    assert approved["duration_minutes"] == 60
    run(parts, "support.break_glass_unreviewed")
    assert states(desk.api.db, "support.break_glass_unreviewed") == {grant["id"]: "open"}
    own = desk.call("admin", "POST", f"{GRANTS}/{grant['id']}/review", json={"note": "fine"})
    assert error_code(own) == "own_approval"
    reviewed = desk.ok("admin2", "POST", f"{GRANTS}/{grant['id']}/review", json={"note": "ok"})
    assert reviewed["reviewed_by"] == desk.people["admin2"].email
    assert _history(reviewed)[-1] == ("reviewed", "approved", "approved")
    twice = desk.call("owner", "POST", f"{GRANTS}/{grant['id']}/review", json={"note": "again"})
    assert error_code(twice) == "already_reviewed"
    run(parts, "support.break_glass_unreviewed")
    assert states(desk.api.db, "support.break_glass_unreviewed") == {grant["id"]: "resolved"}


def test_approve_and_revoke_racing_one_wins_and_both_are_recorded(desk: Desk) -> None:
    for _ in range(3):
        grant = desk.request_grant(desk.open_ticket()["id"])
        answers: dict[str, int] = {}

        def call(
            who: str, verb: str, grant_id: str = grant["id"], into: dict[str, int] = answers
        ) -> None:
            path = f"{GRANTS}/{grant_id}/{verb}"
            into[verb] = desk.call(who, "POST", path, json={}).status_code

        race(lambda: call("owner", "approve"), lambda: call("admin", "revoke"))
        assert answers["approve"] == 200
        shown = desk.ok("owner", "GET", f"{GRANTS}/{grant['id']}")
        if answers["revoke"] == 200:
            assert shown["state"] == "revoked"
            assert [e for e, _, _ in _history(shown)] == ["requested", "approved", "revoked"]
        else:
            assert answers["revoke"] == 409
            assert shown["state"] == "approved"
            assert [e for e, _, _ in _history(shown)] == ["requested", "approved"]
        with desk.api.db.read() as session:
            audited = session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == grant["id"])
            ).all()
        assert sorted(audited) == sorted(f"support_grant.{e}" for e, _, _ in _history(shown))


def test_the_tenant_sees_its_grants_and_their_log_and_managers_do_not(desk: Desk) -> None:
    grant = desk.request_grant(desk.open_ticket()["id"], data_classes=["payments", "tickets"])
    desk.approve(grant["id"])
    desk.ok("support", "GET", PAYMENTS)
    desk.ok("support", "GET", "/api/v1/tenants/acme/tickets")
    log = desk.ok("owner", "GET", "/api/v1/tenants/acme/support-actions")["items"]
    assert {a["route"] for a in log} == {
        "/api/v1/tenants/{tenant}/payments",
        "/api/v1/tenants/{tenant}/tickets",
    }
    assert all(a["grant_id"] == grant["id"] for a in log)
    assert desk.call("manager", "GET", "/api/v1/tenants/acme/support-actions").status_code == 403
    assert desk.call("manager", "GET", GRANTS).status_code == 403
    assert desk.ok("other_owner", "GET", "/api/v1/tenants/other/support-actions")["items"] == []
    assert desk.ok("other_owner", "GET", "/api/v1/tenants/other/support-grants")["items"] == []


def test_an_answer_under_a_grant_never_leaves_unlogged(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the action log cannot be written, the caller gets a 500 instead of the data."""
    from darvaza.support import service as support

    grant = desk.request_grant(desk.open_ticket()["id"])
    desk.approve(grant["id"])

    def broken(_db: object, _use: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(support, "record_grant_use", broken)
    answer = desk.call("support", "GET", PAYMENTS)
    assert answer.status_code == 500
    assert error_code(answer) == "internal_error"
    assert "items" not in answer.text
    # The tenant's own people are not logged, so nothing stands in their way.
    assert desk.call("owner", "GET", PAYMENTS).status_code == 200
