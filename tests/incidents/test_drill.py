"""`darvaza drill incident`: the incident path on scratch copies, recorded as
`incident_drill` evidence on the live instance, which it leaves as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.incidents.models import Incident
from darvaza.operations.models import Evidence
from tests.support.backups import backup_settings, seed_backup_data

runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    names = ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir")
    return {f"DARVAZA_{n.upper()}": str(getattr(settings, n)) for n in names}


def _count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_drill_walks_the_path_on_a_copy_and_records_its_evidence(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=1)
    result = runner.invoke(cli, ["drill", "incident"], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "passed" in result.output
    assert _count(db, Incident) == 0  # the live data holds no drill incident
    with db.read() as session:
        [evidence] = session.scalars(select(Evidence).where(Evidence.kind == "incident_drill"))
    assert evidence.result == "passed"
    steps = [step["step"] for step in evidence.details["steps"]]
    assert steps[0] == "backup"
    assert any(step.startswith("rollback rehearsal: ") for step in steps)
    assert "declare, link, update, mitigate, resolve, review" in steps
    durations = evidence.details["durations"]
    assert durations["time_to_detect"] == 600.0
    assert durations["time_to_resolve"] >= 1200.0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_drill_on_a_restore_point_that_cannot_be_read_fails_and_says_so(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    result = runner.invoke(cli, ["drill", "incident", "--backup", "nope"], env=_env(settings))
    assert result.exit_code == 1
    assert "nope" in result.output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_drill_fails_when_an_internal_update_reaches_the_status_page(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from darvaza.incidents import service

    post = service.post_update

    def all_public(*args: Any, public: bool, **kwargs: Any) -> Any:
        return post(*args, public=True, **kwargs)

    monkeypatch.setattr(service, "post_update", all_public)
    settings = backup_settings(database_url, tmp_path)
    result = runner.invoke(cli, ["drill", "incident"], env=_env(settings))
    assert result.exit_code == 1
    assert "PROBLEM: the status page shows" in result.output
    with db.read() as session:
        [evidence] = session.scalars(select(Evidence).where(Evidence.kind == "incident_drill"))
    assert evidence.result == "failed"
