"""Support's pages over HTTP (the browser tests drive them in a real browser): a list with
a next page, and another desk's ticket is unknown."""

from __future__ import annotations

from tests.support_desk.conftest import Desk


def test_a_long_list_of_tickets_has_a_next_page(desk: Desk) -> None:
    for n in range(51):
        desk.open_ticket(subject=f"Ticket {n}")
    for who, path in (("customer", "/console/tickets"),
                      ("manager", "/console/t/acme/manage/tickets")):  # fmt: skip
        first = desk.call(who, "GET", path)
        assert first.status_code == 200, first.text
        assert first.text.count("<tr>") == 51  # the header and fifty tickets
        cursor = first.text.split("cursor=", 1)[1].split('"', 1)[0]
        second = desk.call(who, "GET", f"{path}?cursor={cursor}")
        assert second.status_code == 200
        assert second.text.count("<tr>") == 2
    queue = desk.call("support", "GET", "/console/support/tickets")
    assert queue.text.count("<tr>") == 52  # the queue is one page of up to 200
    assert desk.call("customer", "GET", "/console/tickets?cursor=nonsense").status_code == 422


def test_another_desks_ticket_is_not_found(desk: Desk) -> None:
    ticket = desk.open_ticket()
    assert desk.call("manager", "GET", f"/console/tickets/{ticket['id']}").status_code == 404
    other = desk.call("other_owner", "GET", f"/console/t/other/manage/tickets/{ticket['id']}")
    assert other.status_code == 404
    assert desk.call("customer", "GET", "/console/support/tickets").status_code == 403


def test_a_platform_admin_approves_alone_only_as_break_glass_from_the_page(desk: Desk) -> None:
    grant = desk.request_grant(desk.open_ticket()["id"], duration_minutes=240)
    page = f"/console/t/acme/manage/support/{grant['id']}"
    shown = desk.call("admin", "GET", page)
    assert 'id="break-glass"' in shown.text
    assert 'id="break-glass"' not in desk.call("owner", "GET", page).text
    plain = desk.call("admin", "POST", f"{page}/approve", data={})
    assert plain.status_code == 403  # the page again, saying why
    approved = desk.call("admin", "POST", f"{page}/approve",
                         data={"break_glass": "true", "reason": "Outage; owner away"})  # fmt: skip
    assert approved.status_code == 303
    after = desk.ok("owner", "GET", f"/api/v1/tenants/acme/support-grants/{grant['id']}")
    assert after["state"] == "approved"
    assert after["break_glass"] is True
    assert after["duration_minutes"] == 60
