"""The restore drill end to end, on both engines: a restore point taken, restored into a
scratch target, migrated, deep-checked, served by a real `darvaza serve` on a free port,
every smoke check run against it; evidence with the RTO and RPO on the live instance,
and nothing of the drill left in it (no smoke tenant, no checkpoint, no scratch database)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.operations.backups import Progress
from darvaza.operations.models import Evidence
from darvaza.operations.service import create_backup, find_backup, run_restore_drill
from darvaza.tenants.models import Tenant
from tests.conftest import BACKENDS
from tests.support.backups import backup_settings, scratch_databases_of, seed_backup_data

runner = CliRunner()


def _checkpoint_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# A real server, ~40 sign-ins and a 10 s link expiry: about a minute. On PostgreSQL only:
# SQLite's drill runs from the command line in tests/e2e/test_go_live.py.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)
def test_a_drill_restores_serves_and_smoke_checks_a_copy_and_leaves_the_live_alone(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=2)
    for name in ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir"):
        monkeypatch.setenv(f"DARVAZA_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("DARVAZA_DOWNLOAD_TOKEN_TTL_SECONDS", "10")  # the drill's server reads it
    checkpoints = _checkpoint_files(Path(settings.audit_checkpoint_dir))
    lines: list[str] = []

    drill = run_restore_drill(db, settings, smoke_wait_seconds=15, progress=Progress(lines.append))

    assert (drill.result, drill.problems) == ("passed", [])
    assert drill.rto_seconds is not None
    assert drill.rpo_seconds is not None
    # Taken at its start: it loses no more than the drill's own length.
    assert 0 <= drill.rpo_seconds < drill.rto_seconds
    assert [s["step"] for s in drill.steps] == [
        "backup", "restore and deep checks", "migrate", "start the server", "smoke all",
    ]  # fmt: skip
    assert any(line.startswith("smoke all:") for line in lines)
    assert drill.steps[-1]["failed"] == []
    # The live instance: no smoke tenant made there, its checkpoint folder as it was.
    with db.read() as session:
        assert session.scalars(select(Tenant.slug).where(Tenant.synthetic)).all() == []
    assert _checkpoint_files(Path(settings.audit_checkpoint_dir)) == checkpoints
    assert scratch_databases_of(db) == []  # the scratch database is gone again


def test_the_drill_command_records_a_failed_drill_as_evidence(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore point that no longer checks out: the drill stops before serving it and
    says why, and the failure is evidence too."""
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=1)
    for name in ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir"):
        monkeypatch.setenv(f"DARVAZA_{name.upper()}", str(getattr(settings, name)))
    made = runner.invoke(cli, ["backup", "create"])
    assert made.exit_code == 0, made.output
    point = json.loads(runner.invoke(cli, ["backup", "list", "--json"]).output.splitlines()[0])
    manifest = json.loads((Path(point["path"]) / "manifest.json").read_text())
    manifest["tables"]["tenants"] += 1  # as if a row had gone missing from the dump
    (Path(point["path"]) / "manifest.json").write_text(json.dumps(manifest))

    result = runner.invoke(cli, ["drill", "restore", "--backup", point["id"]])

    assert result.exit_code == 1
    assert "table tenants has 1 rows, the manifest says 2" in result.output
    with db.read() as session:
        evidence = session.scalars(select(Evidence).where(Evidence.kind == "restore_drill")).one()
    assert (evidence.result, evidence.details["point"]) == ("failed", point["id"])
    assert evidence.details["rto_seconds"] is None


def test_the_rpo_is_the_age_of_the_restore_points_newest_change(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Drilled from an older restore point, the RPO is how much a recovery from it would
    lose now, not when the copy was restored (the restore writes an event of its own)."""
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=1)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    manifest = json.loads((point.path / "manifest.json").read_text())
    three_hours_ago = utcnow() - timedelta(hours=3)
    manifest["newest_change_at"] = three_hours_ago.isoformat()
    manifest["tables"]["tenants"] += 1  # and stop it before it serves: this is about the RPO
    (point.path / "manifest.json").write_text(json.dumps(manifest))

    drill = run_restore_drill(db, settings, point=find_backup(point.path.parent, point.id))

    assert drill.rpo_seconds is not None
    assert 3 * 3600 <= drill.rpo_seconds < 3 * 3600 + 60


def test_the_scratch_server_starts_on_a_staging_or_production_host(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's environment says staging (or production), which refuses plain http, and
    has nginx send files; the drill's copy serves on loopback over http all the same, as
    `local`, sending its files itself."""
    import shutil

    import httpx

    from darvaza.operations.drill import ScratchCopy, _served
    from tests.support.live_server import free_port
    from tests.support.settings import make_settings

    for name, value in {"DARVAZA_PROFILE": "staging", "DARVAZA_SECRET_KEY": "k" * 32,
                        "DARVAZA_AUDIT_KEY": "a" * 40,
                        "DARVAZA_PUBLIC_URL": "https://members.example.com",
                        "DARVAZA_DOWNLOAD_OFFLOAD": "x-accel"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    copy = tmp_path / "copy.db"
    shutil.copyfile(sqlite_template, copy)
    work = tmp_path / "work"
    work.mkdir()
    scratch = ScratchCopy(f"sqlite:///{copy}", work, make_settings(), free_port())
    assert scratch.env["DARVAZA_PROFILE"] == "local"
    assert scratch.env["DARVAZA_DOWNLOAD_OFFLOAD"] == "none"
    with _served(scratch.env, work, scratch.port) as base:
        assert httpx.get(base + "/health", timeout=5).status_code == 200
