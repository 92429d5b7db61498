"""Exemptions and the readiness API: who may read and who may exempt; a reason and a
bounded end are required; what can never stand exempt; an exemption shows as `exempt`,
and one that runs out fails its proof and opens a finding until it is withdrawn. The
command: its exit status, its Markdown and JSON, and the exemptions from the shell."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.assembly import CHECKS
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.errors import InvalidInput
from darvaza.ops.alert_routes import load_alert_routes
from darvaza.ops.models import OpsFinding
from darvaza.ops.service import run_check
from darvaza.readiness.models import ReadinessExemption
from darvaza.readiness.service import exempt_proof, readiness_report, withdraw_exemption
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole
from tests.support.jobs import parts as make_parts
from tests.support.settings import make_settings
from tests.support.world import Api, admin_token, error_code, person

API = "/api/v1/admin/readiness"
ROBOT = Actor.system("test")
runner = CliRunner()


def _in(days: float) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


def test_auditors_read_platform_admins_exempt_and_nobody_else(api: Api) -> None:
    admin = admin_token(api.db)
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    support = api.login(person(api.db, PlatformRole.SUPPORT_ADMIN))
    shown = api.call("GET", API, auditor)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["verdict"] == "NOT_READY"
    assert [p["key"] for p in body["proofs"]][-1] == "production_claim"
    assert body["blocking"][-1] == "production_claim"
    assert shown.headers["cache-control"] == "no-store"
    assert api.call("GET", API, support).status_code == 403
    assert api.call("GET", API).status_code == 401
    exemption = {
        "proof": "staging_smoke",
        "reason": "staging is being rebuilt",
        "expires_at": _in(3),
    }
    refused = api.call("POST", f"{API}/exemptions", auditor, json=exemption)
    assert refused.status_code == 403
    made = api.call("POST", f"{API}/exemptions", admin, json=exemption)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "active"
    proof = next(p for p in api.call("GET", API, auditor).json()["proofs"]
                 if p["key"] == "staging_smoke")  # fmt: skip
    assert proof["status"] == "exempt"
    assert proof["exemption"]["reason"] == "staging is being rebuilt"
    assert proof["blockers"]  # what it lacks is still said
    listed = api.call("GET", f"{API}/exemptions", auditor).json()["items"]
    assert [e["id"] for e in listed] == [made.json()["id"]]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"reason": ""}, 422, "validation_error"),
        ({"reason": "   "}, 422, "reason_required"),
        ({"expires_at": _in(15)}, 422, "exemption_too_long"),
        ({"expires_at": _in(-1)}, 422, "exemption_too_long"),
        ({"proof": "production_claim"}, 422, "proof_not_exemptable"),
        ({"proof": "everything"}, 422, "validation_error"),
    ],
)
def test_a_bad_exemption_is_refused_and_nothing_is_kept(
    api: Api, change: dict[str, str], status: int, code: str
) -> None:
    admin = admin_token(api.db)
    body = {"proof": "backup", "reason": "the disk is being replaced", "expires_at": _in(2)}
    refused = api.call("POST", f"{API}/exemptions", admin, json={**body, **change})
    assert refused.status_code == status, refused.text
    assert error_code(refused) == code
    with api.db.read() as session:
        assert session.scalars(select(ReadinessExemption)).all() == []


def test_withdrawing_lands_once(api: Api) -> None:
    admin = admin_token(api.db)
    body = {"proof": "monitoring", "reason": "a new worker host", "expires_at": _in(1)}
    made = api.call("POST", f"{API}/exemptions", admin, json=body).json()
    path = f"{API}/exemptions/{made['id']}/withdraw"
    done = api.call("POST", path, admin, json={"reason": "the host is up"})
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["withdraw_reason"]) == ("withdrawn", "the host is up")
    again = api.call("POST", path, admin, json={"reason": "twice"})
    assert (again.status_code, error_code(again)) == (409, "exemption_withdrawn")
    unknown = api.call("POST", f"{API}/exemptions/{'0' * 8}-0000-4000-8000-{'0' * 12}/withdraw",
                       admin, json={"reason": "no such"})  # fmt: skip
    assert unknown.status_code == 404


def test_backup_and_restore_drill_are_never_exempt_in_production(db: Database) -> None:
    production = make_settings(profile="production")
    for proof in ("backup", "restore_drill", "production_claim"):
        with pytest.raises(InvalidInput) as refused:
            exempt_proof(db, production, ROBOT, who="t", proof=proof, reason="because",
                         expires_at=utcnow() + timedelta(days=1))  # fmt: skip
        assert refused.value.code == "proof_not_exemptable"
    exempt_proof(db, production, ROBOT, who="t", proof="staging_smoke", reason="because",
                 expires_at=utcnow() + timedelta(days=1))  # fmt: skip
    # An exemption counts only on the profile it was granted on.
    local = make_settings()
    proofs = readiness_report(db, local, CHECKS, load_alert_routes(local)).proofs
    assert next(p for p in proofs if p.key == "staging_smoke").status == "missing"


def test_a_lapsed_exemption_fails_its_proof_and_opens_a_finding_until_withdrawn(
    db: Database,
) -> None:
    parts = make_parts(db)
    settings = parts.settings
    now = utcnow()
    made = exempt_proof(db, settings, ROBOT, who="ops@example.com", proof="restore_drill",
                        reason="the drill host is down", expires_at=now + timedelta(days=1),
                        now=now)  # fmt: skip
    routes = load_alert_routes(settings)

    def drill(at: object) -> object:
        proofs = readiness_report(db, settings, CHECKS, routes, now=at).proofs  # type: ignore[arg-type]
        return next(p for p in proofs if p.key == "restore_drill")

    assert drill(now + timedelta(hours=1)).status == "exempt"  # type: ignore[attr-defined]
    lapsed = drill(now + timedelta(days=2))
    assert lapsed.status == "fail"  # type: ignore[attr-defined]
    assert str(lapsed.blockers[0]).startswith("The exemption by ops@example.com expired at")  # type: ignore[attr-defined]
    check = CHECKS.get("readiness.exemption_expired")
    assert check is not None
    run_check(parts, check, now=now + timedelta(days=2))
    with db.read() as session:
        finding = session.scalars(
            select(OpsFinding).where(OpsFinding.code == "readiness.exemption_expired")
        ).one()
    assert (finding.state, finding.subject_id) == ("open", "restore_drill")
    withdraw_exemption(db, ROBOT, made.id, who="ops@example.com", reason="drill it instead")
    assert drill(now + timedelta(days=2)).status == "missing"  # type: ignore[attr-defined]
    run_check(parts, check, now=now + timedelta(days=2, minutes=15))
    with db.read() as session:
        assert session.get(OpsFinding, finding.id).state == "resolved"  # type: ignore[union-attr]


def test_the_command_writes_markdown_prints_json_and_gates(db: Database, tmp_path: Path) -> None:
    env = {"DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False)}
    page = tmp_path / "READINESS.md"
    judged = runner.invoke(cli, ["readiness", "--output", str(page)], env=env)
    assert judged.exit_code == 1, judged.output
    assert judged.stdout.startswith("NOT_READY for local")
    assert "run: darvaza drill restore" in judged.stdout
    text = page.read_text()
    assert text.startswith("# V1 readiness\n\n**NOT_READY** for local")
    assert "## Restore drill: MISSING" in text
    assert "- `darvaza drill restore`" in text
    as_json = runner.invoke(cli, ["readiness", "--json", "--output", str(page)], env=env)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["verdict"] == "NOT_READY"
    wrong = runner.invoke(cli, ["readiness", "--for", "moon"], env=env)
    assert wrong.exit_code == 2
    made = runner.invoke(cli, ["readiness", "exempt", "deployment", "--reason", "first deploy",
                               "--days", "2"], env=env)  # fmt: skip
    assert made.exit_code == 0, made.output
    exemption_id = made.stdout.split()[0]
    listed = runner.invoke(cli, ["readiness", "exemptions"], env=env)
    assert "deployment" in listed.stdout
    assert "active" in listed.stdout
    too_long = runner.invoke(cli, ["readiness", "exempt", "deployment", "--reason", "x y z",
                                   "--days", "40"], env=env)  # fmt: skip
    assert too_long.exit_code == 1
    assert "within 14 days" in too_long.output
    done = runner.invoke(cli, ["readiness", "withdraw", exemption_id, "--reason", "deployed"],
                         env=env)  # fmt: skip
    assert done.exit_code == 0, done.output
