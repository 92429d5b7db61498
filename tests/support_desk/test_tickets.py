"""Tickets: who opens and sees them, replies and internal notes, the states, the SLA clock
that stands still while the requester is asked."""

from __future__ import annotations

from datetime import datetime, timedelta

from darvaza.assembly import assemble
from darvaza.support.service import close_solved_tickets
from tests.support.checks import run, states
from tests.support.settings import make_settings
from tests.support.world import error_code
from tests.support_desk.conftest import Desk


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_customer_opens_a_ticket_that_every_desk_sees_as_it_may(desk: Desk) -> None:
    ticket = desk.open_ticket(priority="high", category="access")
    assert ticket["state"] == "new"
    assert ticket["requester"] == desk.people["customer"].email
    assert [m["kind"] for m in ticket["messages"]] == ["reply"]
    mine = desk.ok("customer", "GET", "/api/v1/me/tickets")["items"]
    assert [t["id"] for t in mine] == [ticket["id"]]
    assert [
        t["id"] for t in desk.ok("manager", "GET", "/api/v1/tenants/acme/tickets")["items"]
    ] == [ticket["id"]]
    queue = desk.ok("support", "GET", "/api/v1/support/tickets")["items"]
    assert [t["id"] for t in queue] == [ticket["id"]]
    # Another tenant's staff, and another customer, know nothing of it.
    other = desk.call("other_owner", "GET", f"/api/v1/tenants/other/tickets/{ticket['id']}")
    assert other.status_code == 404
    stranger = desk.call("manager", "GET", f"/api/v1/me/tickets/{ticket['id']}")
    assert stranger.status_code == 404
    assert desk.ok("other_owner", "GET", "/api/v1/tenants/other/tickets")["items"] == []
    # A customer is not the tenant's staff; an auditor works no tickets.
    assert desk.call("customer", "GET", "/api/v1/tenants/acme/tickets").status_code == 403
    assert desk.call("auditor", "GET", "/api/v1/support/tickets").status_code == 403


def test_an_internal_note_never_reaches_the_requester_by_any_route(desk: Desk) -> None:
    ticket = desk.open_ticket()
    path = f"/api/v1/support/tickets/{ticket['id']}/messages"
    desk.ok(
        "support", "POST", path, json={"body": "Looks like a gateway refund.", "internal": True}
    )
    desk.ok("manager", "POST", f"/api/v1/tenants/acme/tickets/{ticket['id']}/messages",
            json={"body": "Customer is on our VIP list.", "internal": True})  # fmt: skip
    desk.ok("support", "POST", path, json={"body": "We are looking at it."})
    seen = desk.ok("customer", "GET", f"/api/v1/me/tickets/{ticket['id']}")
    assert [m["body"] for m in seen["messages"]] == [
        "The link says expired.",
        "We are looking at it.",
    ]
    assert all(m["kind"] == "reply" for m in seen["messages"])
    # The requester's own route takes no notes: a note asked for there is a plain reply.
    reply = desk.ok("customer", "POST", f"/api/v1/me/tickets/{ticket['id']}/messages",
                    json={"body": "Thanks", "internal": True})  # fmt: skip
    assert [m["kind"] for m in reply["messages"]] == ["reply"] * 3
    for who, route in (("support", "support"), ("manager", "tenants/acme")):
        full = desk.ok(who, "GET", f"/api/v1/{route}/tickets/{ticket['id']}")
        assert sorted(m["kind"] for m in full["messages"]) == ["note", "note", *["reply"] * 3]
    # Staff who opened a ticket themselves are its requester: no notes for them either.
    own = desk.open_ticket("manager")
    desk.ok("support", "POST", f"/api/v1/support/tickets/{own['id']}/messages",
            json={"body": "internal only", "internal": True})  # fmt: skip
    for route in ("me", "tenants/acme"):
        seen = desk.ok("manager", "GET", f"/api/v1/{route}/tickets/{own['id']}")
        assert [m["kind"] for m in seen["messages"]] == ["reply"]
    refused = desk.call("manager", "POST", f"/api/v1/tenants/acme/tickets/{own['id']}/messages",
                        json={"body": "my note", "internal": True})  # fmt: skip
    assert refused.status_code == 403


def test_every_ticket_state_and_a_closed_ticket_takes_no_reply(desk: Desk) -> None:
    ticket = desk.open_ticket()
    tid = ticket["id"]
    triage = f"/api/v1/support/tickets/{tid}"
    answered = desk.ok("support", "POST", f"{triage}/messages", json={"body": "On it"})
    assert answered["state"] == "open"
    assert answered["first_response_at"] is not None
    assert desk.ok("support", "PATCH", triage, json={"state": "pending"})["state"] == "pending"
    back = desk.ok("customer", "POST", f"/api/v1/me/tickets/{tid}/messages", json={"body": "Here"})
    assert back["state"] == "open"
    solved = desk.ok("support", "PATCH", triage, json={"state": "solved", "reason": "refunded"})
    assert solved["state"] == "solved"
    assert solved["solved_at"] is not None
    again = desk.ok("customer", "POST", f"/api/v1/me/tickets/{tid}/messages", json={"body": "No"})
    assert again["state"] == "open"
    assert again["solved_at"] is None
    desk.ok("support", "PATCH", triage, json={"state": "solved"})
    never_new = desk.call("support", "PATCH", triage, json={"state": "new"})
    assert never_new.status_code == 422
    # Solved and left alone past the setting's days: the job closes it.
    assert close_solved_tickets(desk.api.db, older_than=timedelta(days=7)) == []
    desk.travel(timedelta(days=7, minutes=1))
    assert [str(i) for i in close_solved_tickets(desk.api.db, older_than=timedelta(days=7))] == [
        tid
    ]
    closed = desk.call("customer", "POST", f"/api/v1/me/tickets/{tid}/messages", json={"body": "?"})
    assert closed.status_code == 409
    assert error_code(closed) == "ticket_closed"
    assert "open a new" in closed.json()["error"]["message"]
    reopen = desk.call("support", "PATCH", triage, json={"state": "open"})
    assert reopen.status_code == 409


def test_triage_sets_priority_tier_and_assignee(desk: Desk) -> None:
    ticket = desk.open_ticket(priority="low")
    path = f"/api/v1/support/tickets/{ticket['id']}"
    low_due = _at(ticket["resolution_due_at"])
    urgent = desk.ok("support", "PATCH", path, json={
        "priority": "urgent", "tier": 2, "assignee_email": desk.people["support2"].email,
    })  # fmt: skip
    assert (urgent["priority"], urgent["tier"]) == ("urgent", 2)
    assert urgent["assignee"] == desk.people["support2"].email
    # Urgent's 8 hours instead of low's 7 days, counted from the same start.
    assert low_due - _at(urgent["resolution_due_at"]) == timedelta(minutes=10080 - 480)
    mine = desk.ok("support2", "GET", "/api/v1/support/tickets?mine=true")["items"]
    assert [t["id"] for t in mine] == [ticket["id"]]
    not_support = desk.call("support", "PATCH", path,
                            json={"assignee_email": desk.people["customer"].email})  # fmt: skip
    assert not_support.status_code == 422
    assert error_code(not_support) == "invalid_assignee"
    assert desk.call("support", "PATCH", path, json={"tier": 4}).status_code == 422
    unassigned = desk.ok("support", "PATCH", path, json={"unassign": True})
    assert unassigned["assignee"] is None


def test_the_sla_clock_stands_still_while_the_requester_is_asked(desk: Desk) -> None:
    ticket = desk.open_ticket(priority="urgent")  # 60 minutes to respond, 480 to resolve
    tid, path = ticket["id"], f"/api/v1/support/tickets/{ticket['id']}"
    opened = _at(ticket["created_at"])
    assert _at(ticket["first_response_due_at"]) - opened == timedelta(minutes=60)
    assert _at(ticket["resolution_due_at"]) - opened == timedelta(minutes=480)
    desk.travel(timedelta(minutes=30))
    replied = desk.ok("support", "POST", f"{path}/messages", json={"body": "Which order?"})
    assert replied["first_response_due_at"] is None
    paused = desk.ok("support", "PATCH", path, json={"state": "pending"})
    assert paused["sla"]["running"] is False
    assert paused["resolution_due_at"] is None
    left_when_paused = paused["sla"]["resolution_left_seconds"]
    assert 449 * 60 <= left_when_paused <= 450 * 60
    desk.travel(timedelta(hours=20))  # far past the 8 hours: paused time does not count
    still = desk.ok("support", "GET", path)
    assert abs(still["sla"]["resolution_left_seconds"] - left_when_paused) <= 5
    assert still["sla"]["breached"] is False
    resumed = desk.ok("customer", "POST", f"/api/v1/me/tickets/{tid}/messages", json={"body": "#7"})
    assert resumed["state"] == "open"
    assert resumed["sla"]["running"] is True
    resumed_at = _at(resumed["updated_at"])
    due = _at(resumed["resolution_due_at"]) - resumed_at
    assert timedelta(minutes=449) <= due <= timedelta(minutes=450)
    desk.travel(timedelta(minutes=451))
    late = desk.ok("support", "GET", path)
    assert late["sla"]["breached"] is True
    assert late["sla"]["resolution_left_seconds"] < 0


def test_a_breached_sla_is_an_ops_finding(desk: Desk, database_url: str) -> None:
    parts = assemble(make_settings(database_url=database_url), desk.api.db)
    ticket = desk.open_ticket(priority="urgent")
    run(parts, "support.sla_breached")
    assert states(desk.api.db, "support.sla_breached") == {}
    desk.travel(timedelta(minutes=61))  # first response overdue
    run(parts, "support.sla_breached")
    assert states(desk.api.db, "support.sla_breached") == {ticket["id"]: "open"}
    desk.ok("support", "POST", f"/api/v1/support/tickets/{ticket['id']}/messages",
            json={"body": "Sorry for the wait"})  # fmt: skip
    desk.ok("support", "PATCH", f"/api/v1/support/tickets/{ticket['id']}", json={"state": "solved"})
    run(parts, "support.sla_breached")
    assert states(desk.api.db, "support.sla_breached") == {ticket["id"]: "resolved"}


def test_bad_tickets_are_refused_in_the_error_shape(desk: Desk) -> None:
    cases = [
        {"subject": " ", "body": "x"},
        {"subject": "x", "body": ""},
        {"subject": "x", "body": "y", "priority": "asap"},
        {"subject": "x", "body": "y", "category": "love"},
        {"subject": "x" * 201, "body": "y"},
    ]
    for body in cases:
        response = desk.call("customer", "POST", "/api/v1/tenants/acme/tickets", json=body)
        assert response.status_code == 422, body
        assert "error" in response.json()
    missing = desk.call("customer", "POST", "/api/v1/tenants/nope/tickets",
                        json={"subject": "x", "body": "y"})  # fmt: skip
    assert missing.status_code == 404
    unknown = desk.call("support", "GET", "/api/v1/support/tickets/not-a-uuid")
    assert unknown.status_code == 422


def test_the_other_moves_of_a_ticket(desk: Desk) -> None:
    """new → pending and new → solved by triage; pending → solved; an illegal move is 409."""
    for target in ("pending", "solved"):
        ticket = desk.open_ticket()
        path = f"/api/v1/support/tickets/{ticket['id']}"
        moved = desk.ok("support", "PATCH", path, json={"state": target})
        assert moved["state"] == target
    waiting = desk.open_ticket()
    path = f"/api/v1/support/tickets/{waiting['id']}"
    desk.ok("support", "PATCH", path, json={"state": "pending"})
    assert desk.ok("support", "PATCH", path, json={"state": "solved"})["state"] == "solved"
    new = desk.open_ticket()
    closed_early = desk.call("support", "PATCH", f"/api/v1/support/tickets/{new['id']}",
                             json={"state": "closed"})  # fmt: skip
    assert closed_early.status_code == 409
    assert error_code(closed_early) == "invalid_state"
