"""The worker's backup and drill: enqueued by the schedule the settings give, run as jobs,
recorded as evidence by the worker; the nightly backup prunes by the keep settings and a
failed one prunes nothing and is retried."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from darvaza.assembly import WORK, assemble
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim
from darvaza.jobs.registry import run_claimed
from darvaza.jobs.schedule import enqueue_due
from darvaza.operations.models import Evidence
from darvaza.operations.service import create_backup, list_backups
from darvaza.parts import Parts
from tests.support.backups import backup_settings, seed_backup_data


def _run_scheduled(parts: Parts, kind: str) -> tuple[str, Job]:
    """Enqueue what the schedule has due now, and run the job of `kind` as a worker would."""
    db = parts.db
    enqueue_due(db, WORK.schedule_for(parts.settings), now=utcnow())
    (job,) = [job for job in claim(db, "test", now=utcnow(), limit=20) if job.kind == kind]
    state = run_claimed(parts, WORK.registry, job)
    with db.read() as session:
        return state, session.get_one(Job, job.id)


def _evidence(db: Database, kind: str) -> list[Evidence]:
    with db.read() as session:
        return list(session.scalars(select(Evidence).where(Evidence.kind == kind)))


def test_the_nightly_backup_is_scheduled_by_its_setting_recorded_and_prunes(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(
        database_url, tmp_path, backup_schedule="* * * * *", backup_keep_daily=1,
        backup_keep_weekly=0,
    )  # fmt: skip
    seed_backup_data(db, settings, files=1)
    older = [create_backup(db, settings, folder=Path(settings.backup_dir)) for _ in range(2)]

    state, job = _run_scheduled(assemble(settings, db), "backups.create")

    assert state == "succeeded", job.last_error
    (point,) = list_backups(Path(settings.backup_dir))  # keep one a day: the new one
    assert point.label == "scheduled"
    assert point.id not in {made.id for made in older}
    (evidence,) = _evidence(db, "backup")
    assert (evidence.result, evidence.details["point"]) == ("passed", point.id)
    assert (evidence.recorded_by_type, evidence.recorded_by_id) == ("system", "worker")


def test_a_nightly_backup_that_fails_is_recorded_prunes_nothing_and_is_retried(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    settings = backup_settings(database_url, tmp_path, backup_schedule="* * * * *")
    settings = settings.model_copy(update={"backup_dir": str(blocked)})

    state, job = _run_scheduled(assemble(settings, db), "backups.create")

    assert state == "queued"  # a retry, with backoff
    assert "cannot be written" in (job.last_error or "")
    assert job.run_at > utcnow()
    (evidence,) = _evidence(db, "backup")
    assert evidence.result == "failed"
    assert str(blocked) in evidence.details["error"]
    assert blocked.read_text().startswith("a file")


def test_turned_off_schedules_enqueue_neither(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)  # the tests' environment: both off
    enqueue_due(db, WORK.schedule_for(settings), now=utcnow() + timedelta(days=8))
    with db.read() as session:
        kinds = set(session.scalars(select(Job.kind)))
    assert kinds & {"backups.create", "backups.restore_drill"} == set()
    assert "jobs.prune" in kinds


# The drill's paths on each engine are test_drill's; this is the job around it. A real
# server and every smoke check: about a minute.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_weekly_drill_drills_the_newest_restore_point_and_records_it(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = backup_settings(database_url, tmp_path, restore_drill_schedule="* * * * *")
    seed_backup_data(db, settings, files=1)
    monkeypatch.setenv("DARVAZA_DOWNLOAD_TOKEN_TTL_SECONDS", "10")  # the drill's server reads it
    folder = Path(settings.backup_dir)
    create_backup(db, settings, folder=folder)
    newest = create_backup(db, settings, folder=folder)

    state, job = _run_scheduled(assemble(settings, db), "backups.restore_drill")

    assert state == "succeeded", job.last_error
    (evidence,) = _evidence(db, "restore_drill")
    assert (evidence.result, evidence.details["point"]) == ("passed", newest.id)
    assert evidence.details["steps"][0]["step"] == "restore and deep checks"  # no new backup
    assert evidence.recorded_by_id == "worker"
    assert len(list_backups(folder)) == 2
