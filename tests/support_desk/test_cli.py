"""`darvaza support tickets|grants`: the operator's view of the queue and the grants, and
revoking a grant from the machine (the next request under it is refused)."""

from __future__ import annotations

from typer.testing import CliRunner

from darvaza.cli import app as cli
from tests.support.world import error_code
from tests.support_desk.conftest import Desk

runner = CliRunner()


def _run(desk: Desk, database_url: str, *args: str) -> str:
    result = runner.invoke(cli, list(args), env={"DARVAZA_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_queue_a_ticket_and_its_notes(desk: Desk, database_url: str) -> None:
    urgent = desk.open_ticket(subject="Site down", priority="urgent")
    low = desk.open_ticket(subject="A typo", priority="low")
    desk.ok("support", "POST", f"/api/v1/support/tickets/{urgent['id']}/messages",
            json={"body": "An internal thought", "internal": True})  # fmt: skip
    queue = _run(desk, database_url, "support", "tickets", "list").splitlines()
    # Soonest due first: the urgent ticket's 8 hours before the low one's week.
    assert [line.split()[0] for line in queue] == [urgent["id"], low["id"]]
    assert "acme" in queue[0]
    shown = _run(desk, database_url, "support", "tickets", "show", urgent["id"])
    assert "Site down" in shown
    assert "An internal thought" in shown  # the operator sees notes
    assert "SLA running" in shown
    other = _run(desk, database_url, "support", "tickets", "list", "--tenant", "other")
    assert other.strip() == "No tickets."


def test_grants_listed_shown_and_revoked_from_the_machine(desk: Desk, database_url: str) -> None:
    grant = desk.request_grant(desk.open_ticket()["id"])
    desk.approve(grant["id"])
    desk.ok("support", "GET", "/api/v1/tenants/acme/payments")
    listed = _run(desk, database_url, "support", "grants", "list", "--state", "approved")
    assert grant["id"] in listed
    assert "payments read" in listed
    shown = _run(desk, database_url, "support", "grants", "show", grant["id"])
    assert "approved" in shown
    assert "GET /api/v1/tenants/{tenant}/payments" in shown
    assert "actions under it (1)" in shown
    revoked = _run(desk, database_url, "support", "grants", "revoke", grant["id"],
                   "--reason", "operator: the case is done")  # fmt: skip
    assert "Revoked" in revoked
    assert error_code(desk.call("support", "GET", "/api/v1/tenants/acme/payments")) == (
        "support_grant_required"
    )
    again = runner.invoke(cli, ["support", "grants", "revoke", grant["id"], "--reason", "x"],
                          env={"DARVAZA_DATABASE_URL": database_url})  # fmt: skip
    assert again.exit_code == 1
    assert "already revoked" in again.output
    unknown = runner.invoke(cli, ["support", "grants", "show", "nope"],
                            env={"DARVAZA_DATABASE_URL": database_url})  # fmt: skip
    assert unknown.exit_code == 1
