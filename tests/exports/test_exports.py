"""CSV exports: asked for through the API, made by the worker's job, delivered through a
short-lived link; checked for content, formula neutralising, access (another tenant's,
a support grant's scope, a right lost before the download), expiry and audit; a job
that runs out of room leaves no file."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from darvaza.assembly import WORK
from darvaza.audit.models import AuditEvent
from darvaza.billing.models import Payment, Plan
from darvaza.cli import app as cli
from darvaza.clock import shift_clock, utcnow
from darvaza.db import Database
from darvaza.exports.service import expire_exports, safe_cell
from darvaza.jobs.queue import claim
from darvaza.jobs.registry import run_claimed
from darvaza.tenants.service import find_tenant
from tests.support.jobs import parts as make_parts
from tests.support.world import Api, error_code, make_app
from tests.support_desk.conftest import Desk, build_desk

ACME = "/api/v1/tenants/acme/exports"


@pytest.fixture
def exports_dir(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def desk(db: Database, database_url: str, serve: Any, exports_dir: Path) -> Desk:
    api = Api(serve(make_app(database_url, export_dir=str(exports_dir),
                             public_url="http://127.0.0.1:4000")), db)  # fmt: skip
    return build_desk(api)


def seed_payments(desk: Desk, count: int, *, card: str = "6037-99**-****-1234") -> None:
    db = desk.api.db
    tenant = find_tenant(db, "acme")
    customer = desk.people["customer"].user.id
    with db.transaction() as session:
        plan = Plan(id=uuid.uuid4(), tenant_id=tenant.id, code="=evil()", name="Gold",
                    price_rials=10_000, period_days=30, active=True, created_at=utcnow(),
                    updated_at=utcnow())  # fmt: skip
        session.add(plan)
        session.flush()
        now = utcnow()
        session.execute(insert(Payment), [
            {"id": uuid.uuid4(), "order_id": f"o-{i:07d}-{uuid.uuid4().hex[:8]}",
             "tenant_id": tenant.id, "user_id": customer, "plan_id": plan.id,
             "amount_rials": 10_000 + i, "period_days": 30, "gateway": "mock", "state": "paid",
             "card_number_masked": card, "gateway_reference": "@SUM(A1)" if i == 0 else None,
             "created_at": now - timedelta(seconds=count - i), "updated_at": now, "paid_at": now}
            for i in range(count)
        ])  # fmt: skip


def run_jobs(desk: Desk, **settings: Any) -> dict[str, int]:
    """Run the queued export jobs the way a worker does; their outcomes."""
    parts = make_parts(desk.api.db, **settings)
    done: dict[str, int] = {}
    for job in claim(desk.api.db, "test-exports", limit=20):
        state = run_claimed(parts, WORK.registry, job)
        done[state] = done.get(state, 0) + 1
    return done


def download(desk: Desk, who: str, export_id: str) -> Any:
    link = desk.ok(who, "POST", f"/api/v1/me/exports/{export_id}/link")
    path = link["url"].split("127.0.0.1:4000", 1)[1]
    return link, desk.api.call("GET", path)


def test_an_owner_exports_payments_and_downloads_them_once_audited(
    desk: Desk, exports_dir: Path
) -> None:
    seed_payments(desk, 3)
    asked = desk.ok("owner", "POST", f"{ACME}/payments", 202, json={})
    assert asked["state"] == "queued"
    assert run_jobs(desk, export_dir=str(exports_dir)) == {"succeeded": 1}
    ready = desk.ok("owner", "GET", f"/api/v1/me/exports/{asked['id']}")
    assert (ready["state"], ready["rows"]) == ("ready", 3)
    assert ready["expires_at"] > ready["finished_at"]
    assert [e["id"] for e in desk.ok("owner", "GET", "/api/v1/me/exports")["items"]] == [
        asked["id"]
    ]
    link, got = download(desk, "owner", asked["id"])
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in got.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0][:3] == ["payment_id", "order_id", "created_at"]
    assert len(table) == 4
    assert [row[5] for row in table[1:]] == ["10000", "10001", "10002"]  # oldest first
    # What a spreadsheet would run as a formula is text.
    assert {row[6] for row in table[1:]} == {"'=evil()"}
    assert table[1][9] == "'@SUM(A1)"
    assert table[1][7] == desk.people["customer"].email
    assert len(got.content) == ready["size_bytes"]
    # Every link serves a few downloads, then is used up.
    path = link["url"].split("127.0.0.1:4000", 1)[1]
    for _ in range(link["max_uses"] - 1):
        assert desk.api.call("GET", path).status_code == 200
    spent = desk.api.call("GET", path)
    assert (spent.status_code, error_code(spent)) == (410, "link_expired")
    with desk.api.db.read() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("export.%"))
            .order_by(AuditEvent.id)
        ).all()  # fmt: skip
    assert actions == ["export.requested", "export.ready", *["export.downloaded"] * 3]
    # The folder holds the one whole file and nothing half-written.
    assert [p.name for p in exports_dir.iterdir()] == [f"{asked['id']}.csv"]


@pytest.mark.parametrize(
    "value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
)
def test_every_formula_start_is_neutralised(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert safe_cell("plain") == "plain"
    assert safe_cell(-5) == -5  # a number is written as a number, never quoted
    assert safe_cell(None) == ""


def test_others_cannot_see_or_take_an_export(desk: Desk, exports_dir: Path) -> None:
    seed_payments(desk, 1)
    asked = desk.ok("owner", "POST", f"{ACME}/payments", 202, json={})
    run_jobs(desk, export_dir=str(exports_dir))
    # Another tenant's owner: not their tenant, not their export.
    refused = desk.call("other_owner", "POST", f"{ACME}/payments", json={})
    assert refused.status_code == 403
    for method, path in (("GET", f"/api/v1/me/exports/{asked['id']}"),
                         ("POST", f"/api/v1/me/exports/{asked['id']}/link")):  # fmt: skip
        assert desk.call("other_owner", method, path).status_code == 404
    # A customer exports nothing, auditors only the audit log.
    assert desk.call("customer", "POST", f"{ACME}/payments", json={}).status_code == 403
    assert desk.call("customer", "POST", "/api/v1/admin/exports/audit", json={}).status_code == 403
    assert desk.call("owner", "POST", "/api/v1/admin/exports/audit", json={}).status_code == 403
    # A manager who is removed loses the file with the role.
    managed = desk.ok("manager", "POST", f"{ACME}/subscribers", 202, json={})
    run_jobs(desk, export_dir=str(exports_dir))
    manager_id = desk.people["manager"].user.id
    removed = desk.call("owner", "DELETE", f"/api/v1/tenants/acme/managers/{manager_id}")
    assert removed.status_code == 204
    lost = desk.call("manager", "POST", f"/api/v1/me/exports/{managed['id']}/link")
    assert (lost.status_code, error_code(lost)) == (403, "export_not_allowed")


def test_support_exports_only_what_a_grant_covers_while_it_lasts(
    desk: Desk, exports_dir: Path
) -> None:
    seed_payments(desk, 2)
    without = desk.call("support", "POST", f"{ACME}/payments", json={})
    assert (without.status_code, error_code(without)) == (403, "support_grant_required")
    ticket = desk.open_ticket()
    grant = desk.request_grant(ticket["id"])  # payments, read
    desk.approve(grant["id"])
    asked = desk.ok("support", "POST", f"{ACME}/payments", 202, json={})
    assert asked["under_support_grant"] == grant["id"]
    uncovered = desk.call("support", "POST", f"{ACME}/subscribers", json={})
    assert (uncovered.status_code, error_code(uncovered)) == (403, "support_grant_required")
    run_jobs(desk, export_dir=str(exports_dir))
    link, got = download(desk, "support", asked["id"])
    assert got.status_code == 200
    # The grant ends: the next download of the same link is refused.
    desk.ok("owner", "POST", f"/api/v1/tenants/acme/support-grants/{grant['id']}/revoke",
            json={"reason": "done"})  # fmt: skip
    again = desk.api.call("GET", link["url"].split("127.0.0.1:4000", 1)[1])
    assert (again.status_code, error_code(again)) == (403, "export_not_allowed")


def test_the_audit_log_export_and_expiry(desk: Desk, exports_dir: Path) -> None:
    asked = desk.ok("auditor", "POST", "/api/v1/admin/exports/audit", 202, json={})
    run_jobs(desk, export_dir=str(exports_dir))
    _, got = download(desk, "auditor", asked["id"])
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0][0] == "event_id"
    assert "export.requested" in {row[6] for row in table[1:]}
    backwards = {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    bad = desk.call("auditor", "POST", "/api/v1/admin/exports/audit", json=backwards)
    assert bad.status_code == 422
    # Past its keeping time, the file is deleted and the export says so.
    parts = make_parts(desk.api.db, export_dir=str(exports_dir), export_keep_hours=1)
    shift_clock(timedelta(hours=25))
    try:
        assert expire_exports(desk.api.db, parts.settings) == 1
    finally:
        shift_clock(None)
    assert list(exports_dir.iterdir()) == []
    gone = desk.ok("auditor", "GET", f"/api/v1/me/exports/{asked['id']}")
    assert gone["state"] == "expired"
    refused = desk.call("auditor", "POST", f"/api/v1/me/exports/{asked['id']}/link")
    assert (refused.status_code, error_code(refused)) == (409, "export_not_ready")


def test_a_job_that_runs_out_of_room_leaves_no_file(desk: Desk, small_disk: Path) -> None:
    seed_payments(desk, 6000)  # about 1.3 MB of CSV: more than the 1 MiB disk
    asked = desk.ok("owner", "POST", f"{ACME}/payments", 202, json={})
    run_jobs(desk, export_dir=str(small_disk))
    failed = desk.ok("owner", "GET", f"/api/v1/me/exports/{asked['id']}")
    assert failed["state"] == "failed"
    assert "No space left" in failed["error"]
    assert list(small_disk.iterdir()) == []
    refused = desk.call("owner", "POST", f"/api/v1/me/exports/{asked['id']}/link")
    assert refused.status_code == 409
    with desk.api.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 6000


def _cli(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"DARVAZA_DATABASE_URL": database_url})


def test_the_operators_commands_list_write_and_expire(
    desk: Desk, database_url: str, exports_dir: Path, tmp_path: Path
) -> None:
    seed_payments(desk, 3)
    asked = desk.ok("owner", "POST", f"{ACME}/payments", 202, json={})
    run_jobs(desk, export_dir=str(exports_dir))
    listed = _cli(database_url, "exports", "list", "--tenant", "acme")
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(f"{asked['id']}  payments    ready")
    assert "3 rows" in listed.output
    assert _cli(database_url, "exports", "list", "--state", "failed").output == "No exports.\n"

    # Written straight to a file: the same columns and neutralised cells, 0600, audited.
    target = tmp_path / "acme-payments.csv"
    wrote = _cli(database_url, "exports", "write", "payments", "--tenant", "acme",
                 "--to", str(target))  # fmt: skip
    assert wrote.exit_code == 0, wrote.output
    assert wrote.output.startswith(f"{target}: 3 rows")
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert table[0][:2] == ["payment_id", "order_id"]
    assert len(table) == 4
    assert "'@SUM(A1)" in {cell for row in table for cell in row}
    assert target.stat().st_mode & 0o777 == 0o600
    with desk.api.db.read() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.written")
        ).one()
    assert (event.actor_id, event.data["rows"], event.data["file"]) == ("cli", 3, str(target))
    # Never over a file that is there; the audit log takes no tenant, the rest need one.
    again = _cli(database_url, "exports", "write", "payments", "--tenant", "acme",
                 "--to", str(target))  # fmt: skip
    assert again.exit_code == 1
    assert "exists already" in again.output
    assert _cli(database_url, "exports", "write", "audit", "--tenant", "acme",
                "--to", str(tmp_path / "a.csv")).exit_code == 2  # fmt: skip
    assert _cli(database_url, "exports", "write", "payments",
                "--to", str(tmp_path / "b.csv")).exit_code == 2  # fmt: skip
    nowhere = _cli(database_url, "exports", "write", "payments", "--tenant", "nobody",
                   "--to", str(tmp_path / "c.csv"))  # fmt: skip
    assert nowhere.exit_code == 1
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["acme-payments.csv"]

    # Past its keeping time (a day, by default) the command deletes the job's file.
    env = {"DARVAZA_DATABASE_URL": database_url, "DARVAZA_EXPORT_DIR": str(exports_dir)}
    assert CliRunner().invoke(cli, ["exports", "expire"], env=env).output == "0 exports expired.\n"
    shift_clock(timedelta(hours=25))
    try:
        expired = CliRunner().invoke(cli, ["exports", "expire"], env=env)
    finally:
        shift_clock(None)
    assert expired.output == "1 exports expired.\n"
    assert list(exports_dir.iterdir()) == []
