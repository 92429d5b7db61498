"""Evidence of operational runs: recorded over HTTP and from the command line with the
instance, build and schema it ran on; audited; append-only; refused when malformed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from darvaza import __version__
from darvaza.audit.models import AuditEvent
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import AppendOnlyError, Database
from darvaza.operations.models import Evidence
from darvaza.operations.service import Run, record_evidence
from darvaza.revisions import head_revisions
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole
from tests.support.settings import make_settings
from tests.support.world import Api, admin_token, error_code, person

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
HEAD = ", ".join(sorted(head_revisions()))


def _env(db: Database, **more: str) -> dict[str, str]:
    return {"DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False), **more}


def test_a_run_is_recorded_with_its_instance_and_audited(api: Api) -> None:
    token = admin_token(api.db)
    started = (utcnow() - timedelta(seconds=30)).isoformat()
    body = {
        "kind": "smoke", "name": "mock-payment", "result": "passed",
        "details": {"checks": 6, "token": "dzt_secret"}, "started_at": started,
    }  # fmt: skip
    made = api.call("POST", "/api/v1/admin/evidence", token, json=body)
    assert made.status_code == 201, made.text
    shown = made.json()
    assert (shown["kind"], shown["name"], shown["result"]) == ("smoke", "mock-payment", "passed")
    assert shown["details"] == {"checks": 6, "token": "[redacted]"}
    assert shown["version"] == __version__
    assert shown["migration_head"] == HEAD
    assert shown["instance"]["profile"] == "local"
    assert shown["instance"]["name"]
    assert shown["recorded_by"]["type"] == "user"
    assert shown["recorded_by"]["role"] == "platform_admin"
    assert shown["started_at"] < shown["finished_at"]
    with api.db.read() as session:
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "evidence.recorded")
        ).one()
    assert audited.target_id == shown["id"]
    assert audited.data["result"] == "passed"
    again = api.call("GET", f"/api/v1/admin/evidence/{shown['id']}", token)
    assert again.json() == shown


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"kind": "sorcery"}, "validation_error"),
        ({"result": "maybe"}, "validation_error"),
        ({"name": "Has Spaces"}, "validation_error"),
        ({"details": {"blob": "x" * 17_000}}, "details_too_large"),
        ({"started_at": "2026-12-01T10:00:00Z", "finished_at": "2026-12-01T09:00:00Z"},
         "invalid_range"),
        ({"finished_at": "2099-01-01T00:00:00Z"}, "invalid_range"),
    ],
)  # fmt: skip
def test_malformed_evidence_is_refused_and_nothing_is_written(
    api: Api, change: dict[str, object], code: str
) -> None:
    token = admin_token(api.db)
    body = {"kind": "gate", "name": "lint", "result": "passed", **change}
    refused = api.call("POST", "/api/v1/admin/evidence", token, json=body)
    assert refused.status_code == 422, refused.text
    assert error_code(refused) == code
    with api.db.read() as session:
        assert session.scalar(select(Evidence.id)) is None


def test_lists_filter_and_page_and_only_staff_may_read(api: Api) -> None:
    token = admin_token(api.db)
    settings = make_settings()
    for n, result in enumerate(("passed", "failed", "passed")):
        record_evidence(api.db, settings, Actor.system("test"),
                        Run("gate", f"gate-{n}", result))  # fmt: skip
    record_evidence(api.db, settings, Actor.system("test"), Run("smoke", "rbac-admin", "passed"))
    page = api.call("GET", "/api/v1/admin/evidence?kind=gate&limit=2", token).json()
    assert [row["name"] for row in page["items"]] == ["gate-2", "gate-1"]
    rest = api.call(
        "GET", f"/api/v1/admin/evidence?kind=gate&limit=2&cursor={page['next_cursor']}", token
    ).json()
    assert [row["name"] for row in rest["items"]] == ["gate-0"]
    assert rest["next_cursor"] is None
    failed = api.call("GET", "/api/v1/admin/evidence?result=failed", token).json()["items"]
    assert [row["name"] for row in failed] == ["gate-1"]
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    assert len(api.call("GET", "/api/v1/admin/evidence", auditor).json()["items"]) == 4
    body = {"kind": "gate", "name": "x", "result": "passed"}
    assert api.call("POST", "/api/v1/admin/evidence", auditor, json=body).status_code == 403
    support = api.login(person(api.db, PlatformRole.SUPPORT_ADMIN))
    assert api.call("GET", "/api/v1/admin/evidence", support).status_code == 403
    missing = api.call("GET", "/api/v1/admin/evidence/00000000-0000-0000-0000-000000000000", token)
    assert missing.status_code == 404


def test_evidence_is_never_changed_or_deleted(db: Database) -> None:
    made = record_evidence(db, make_settings(), Actor.system("test"), Run("gate", "x", "passed"))
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        session.get(Evidence, made.id).result = "failed"  # type: ignore[union-attr]
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        session.execute(delete(Evidence))
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        session.execute(update(Evidence).values(result="failed"))
    # Below the ORM, the database's triggers refuse too.
    for statement in ("UPDATE evidence SET result = 'failed'", "DELETE FROM evidence"):
        with pytest.raises(DatabaseError), db.transaction() as session:
            session.execute(text(statement))
    with db.read() as session:
        assert session.scalars(select(Evidence.result)).all() == ["passed"]


def test_the_cli_records_lists_and_shows(db: Database, tmp_path: Path) -> None:
    details = tmp_path / "details.json"
    details.write_text(json.dumps({"tests": 1017}))
    made = runner.invoke(
        cli,
        ["evidence", "record", "--kind", "gate", "--name", "tests", "--result", "passed",
         "--details-file", str(details)],
        env=_env(db, DARVAZA_INSTANCE_NAME="ci-runner"),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    evidence_id = made.output.split()[0]
    assert "local/ci-runner" in made.output
    listed = runner.invoke(cli, ["evidence", "list", "--kind", "gate"], env=_env(db))
    assert evidence_id in listed.output
    shown = json.loads(runner.invoke(cli, ["evidence", "show", evidence_id], env=_env(db)).output)
    assert shown["details"] == {"tests": 1017}
    assert shown["recorded_by"] == {"type": "system", "id": "cli", "role": None}
    refused = runner.invoke(
        cli, ["evidence", "record", "--kind", "magic", "--name", "x", "--result", "passed"],
        env=_env(db),
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "Unknown kind 'magic'" in refused.output


def test_config_and_migration_checks_record_their_verdicts(db: Database) -> None:
    assert runner.invoke(cli, ["config", "check"], env=_env(db)).exit_code == 0
    unsafe = runner.invoke(cli, ["config", "check"], env=_env(db, DARVAZA_PROFILE="staging"))
    assert unsafe.exit_code == 1
    assert runner.invoke(cli, ["migrate", "--check"], env=_env(db)).exit_code == 0
    with db.read() as session:
        rows = session.scalars(select(Evidence).order_by(Evidence.recorded_at)).all()
    assert [(r.kind, r.result, r.instance_profile) for r in rows] == [
        ("config_check", "passed", "local"),
        ("config_check", "failed", "staging"),
        ("migration_check", "passed", "local"),
    ]
    assert "DARVAZA_SECRET_KEY is not set" in rows[1].details["problems"]
    assert rows[2].details == {
        "current": HEAD, "head": [HEAD], "pending": False, "differences": []
    }  # fmt: skip


def test_a_database_not_yet_migrated_gets_a_note_not_a_record(empty_database_url: str) -> None:
    result = runner.invoke(
        cli, ["migrate", "--check"], env={"DARVAZA_DATABASE_URL": empty_database_url}
    )
    assert result.exit_code == 1
    assert "no migration_check evidence recorded: migrate the database first" in result.output


def test_make_evidence_gates_records_each_gate_and_fails_with_one(
    db: Database, tmp_path: Path
) -> None:
    """Two real gates: `layers` passes; `contracts` against a snapshot the code no longer
    matches fails. Both are recorded, the failure with its output; the run exits 1."""
    broken = tmp_path / "openapi.json"
    broken.write_text(json.dumps({"openapi": "3.1.0", "info": {"version": "0.0.1"}, "paths": {}}))
    env = {**os.environ, **_env(db), "CONTRACT_SNAPSHOT": str(broken)}
    ran = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evidence-gates.py"), "layers", "contracts"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "note:" not in ran.stderr  # both recorded
    with db.read() as session:
        rows = {row.name: row for row in session.scalars(select(Evidence))}
    assert {name: (row.kind, row.result) for name, row in rows.items()} == {
        "layers": ("gate", "passed"),
        "contracts": ("gate", "failed"),
    }
    assert rows["contracts"].details["exit_code"] != 0
    assert rows["contracts"].details["command"] == "make contracts"
    assert "is behind" in rows["contracts"].details["output_tail"]
    assert rows["layers"].started_at <= rows["layers"].finished_at

    unknown = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evidence-gates.py"), "deploy"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "unknown gate: deploy" in unknown.stderr
