"""`darvaza status report` writes what the database holds: each check's freshness, the
unresolved findings, the newest evidence of each kind and name (and the kinds with none),
the workers and the queue; checked against a seeded database on both engines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from darvaza.assembly import CHECKS
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.queue import enqueue
from darvaza.operations.models import EVIDENCE_KINDS
from darvaza.operations.service import Run, record_evidence
from darvaza.ops.models import OpsCheckRun
from darvaza.ops.service import acknowledge_finding, run_checks
from tests.support.checks import findings
from tests.support.jobs import parts as make_parts
from tests.support.settings import make_settings
from tests.support.world import SYSTEM

runner = CliRunner()


def _env(db: Database) -> dict[str, str]:
    return {
        "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DARVAZA_INSTANCE_NAME": "status-test",
    }


def _row(text: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def _seed(db: Database) -> None:
    now = utcnow()
    parts = make_parts(db)
    run_checks(parts, list(CHECKS), now=now)  # no worker, no backup: findings open
    with db.transaction() as session:
        # One check last ran two days ago; another raised on its last run.
        session.execute(
            update(OpsCheckRun)
            .where(OpsCheckRun.code == "content.orphan_files")
            .values(finished_at=now - timedelta(days=2))
        )
        session.execute(
            update(OpsCheckRun)
            .where(OpsCheckRun.code == "identity.signin_failures")
            .values(error="Traceback ...\nRuntimeError: the sign-in table is locked")
        )
        session.add_all([
            WorkerHeartbeat(
                id=name, host="h1", pid=pid, queues="default", concurrency=2, state="running",
                started_at=now - timedelta(hours=3), last_seen_at=seen,
                jobs_succeeded=pid * 10,
            )
            for name, pid, seen in (
                ("w-live", 7, now), ("w-gone", 8, now - timedelta(hours=1)),
            )
        ])  # fmt: skip
        enqueue(session, "jobs.prune")
        dead = enqueue(session, "mail.send", {"to": "x@example.com"})
        assert dead is not None
    with db.transaction() as session:
        session.execute(update(Job).where(Job.id == dead).values(state="dead"))
    drill = findings(db, "backups.restore_drill_missing")["restore_drill"]
    acknowledge_finding(
        db, drill.id, actor=SYSTEM, who="ops@example.com", reason="drill tomorrow",
        until=now + timedelta(hours=4), max_days=7,
    )  # fmt: skip
    settings = make_settings(instance_name="status-test")
    for kind, name, result, hours_ago in (
        ("smoke", "auth-session", "failed", 5),
        ("smoke", "auth-session", "passed", 2),  # the newer one is shown
        ("smoke", "mock-payment", "passed", 3),
        ("gate", "tests", "passed", 30),
    ):
        record_evidence(
            db, settings, SYSTEM, Run(kind=kind, name=name, result=result),
            now=now - timedelta(hours=hours_ago),
        )  # fmt: skip


def test_the_report_is_what_the_database_holds(db: Database, tmp_path: Path) -> None:
    _seed(db)
    output = tmp_path / "deep" / "LOCAL_STATUS.md"
    result = runner.invoke(cli, ["status", "report", "--output", str(output)], env=_env(db))
    assert result.exit_code == 0, result.output
    text = output.read_text()

    assert _row(text, "status")[1] == "**critical**"  # no worker is critical
    assert _row(text, "instance")[1] == "local/status-test"
    assert _row(text, "database")[1] == db.engine.dialect.name
    assert _row(text, "schema")[1].startswith("up to date at ")
    counts = "Unresolved findings: 1 critical, 2 high, 0 medium, 0 low (1 acknowledged)."
    assert counts in text
    assert "[READINESS.md](READINESS.md), written by `darvaza readiness`" in text

    # Every check, each with its state as stored.
    for check in CHECKS:
        assert f"`{check.code}`" in text
    assert _row(text, "`content.orphan_files`")[2] == "stale"
    error_row = _row(text, "`identity.signin_failures`")
    assert (error_row[2], error_row[6]) == ("error", "RuntimeError: the sign-in table is locked")
    assert _row(text, "`jobs.no_worker`")[2:3] == ["fresh"]
    assert _row(text, "`jobs.no_worker`")[5] == "1"

    # Unresolved findings, worst first, with their playbook and state.
    section = text.split("## Unresolved findings")[1].split("## Latest evidence")[0]
    finding_rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    codes = [row.split("|")[2].strip() for row in finding_rows]
    assert codes[0] == "`jobs.no_worker`"
    assert sorted(codes[1:]) == ["`backups.missing`", "`backups.restore_drill_missing`"]
    drill = next(row for row in finding_rows if "restore_drill_missing" in row)
    assert "| acknowledged |" in drill
    assert "`docs/playbooks/backups.restore_drill_missing.md`" in drill

    # The newest evidence of each kind and name, with its age; kinds with none say so.
    evidence = text.split("## Latest evidence")[1].split("## Workers")[0]
    smoke = [row for row in evidence.splitlines() if row.startswith("| smoke | auth-session")]
    assert len(smoke) == 1
    assert "| passed |" in smoke[0]
    assert "| 2h00m |" in smoke[0]
    assert _row(evidence, "gate")[:3] + _row(evidence, "gate")[4:5] == [
        "gate",
        "tests",
        "passed",
        "30h00m",
    ]
    assert "local/status-test" in smoke[0]
    for kind in set(EVIDENCE_KINDS) - {"smoke", "gate"}:
        assert f"| {kind} |  | none recorded |" in evidence

    # Workers and queue.
    workers = text.split("## Workers and queue")[1]
    assert "1 live, 1 gone" in workers
    assert _row(workers, "w-gone")[1] == "gone"
    assert _row(workers, "w-live")[5] == "70"
    assert _row(workers, "queued")[1] == "1"
    assert _row(workers, "dead")[1] == "1"
    assert "Dead jobs by kind: `mail.send` 1." in workers


def test_the_report_prints_to_stdout_and_needs_a_migrated_database(
    db: Database, empty_database_url: str
) -> None:
    printed = runner.invoke(cli, ["status", "report", "--output", "-"], env=_env(db))
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith("# Local status\n")
    assert "| smoke |  | none recorded |" in printed.output  # an empty platform says so
    refused = runner.invoke(
        cli, ["status", "report", "--output", "-"],
        env={"DARVAZA_DATABASE_URL": empty_database_url},
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "darvaza migrate" in refused.output
