"""The schedule: each slot of each entry is enqueued once, however many workers tick at
the same moment, and slots missed while nobody ran are not caught up one by one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from darvaza.assembly import WORK
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim, complete
from darvaza.jobs.registry import JobKind, Tasks, Work
from darvaza.jobs.schedule import Periodic, enqueue_due
from tests.support.settings import make_settings

EVERY_MINUTE = Periodic("test.minutely", every=timedelta(minutes=1))
NIGHTLY = Periodic("test.nightly", cron="30 3 * * *")
T0 = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)


def _jobs(db: Database) -> list[Job]:
    with db.read() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_slots_of_an_interval_and_of_a_cron() -> None:
    assert EVERY_MINUTE.latest_slot(T0) == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert NIGHTLY.latest_slot(T0) == datetime(2026, 11, 22, 3, 30, tzinfo=UTC)
    early = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert NIGHTLY.latest_slot(early) == datetime(2026, 11, 21, 3, 30, tzinfo=UTC)
    assert NIGHTLY.latest_slot(T0, since=datetime(2026, 11, 22, 3, 30, tzinfo=UTC)) is None


def test_bad_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        Periodic("x", every=timedelta(minutes=1), cron="* * * * *")
    with pytest.raises(ValueError, match="not both"):
        Periodic("x")
    with pytest.raises(ValueError, match="bad cron"):
        Periodic("x", cron="61 * * * *")
    with pytest.raises(ValueError, match="under a second"):
        Periodic("x", every=timedelta(0))
    with pytest.raises(ValueError, match="its setting gives its time"):
        Periodic("x", cron="* * * * *", setting="backup_schedule")


def test_an_entry_timed_by_a_setting_follows_it_or_is_off() -> None:
    schedule = WORK.schedule_for(make_settings(backup_schedule="15 2 * * *"))
    (backup,) = [entry for entry in schedule if entry.kind == "backups.create"]
    assert backup.latest_slot(T0) == datetime(2026, 11, 22, 2, 15, tzinfo=UTC)
    off = WORK.schedule_for(make_settings(backup_schedule="", restore_drill_schedule=""))
    assert {entry.kind for entry in off} == set(WORK.upkeep)
    with pytest.raises(ValidationError, match="not a cron expression"):
        make_settings(restore_drill_schedule="0 1 * * friday-ish")
    with pytest.raises(ValueError, match="no setting"):
        kind = JobKind("x", lambda _context, _payload: None)
        Work.collect([Tasks(kinds=(kind,), schedule=(Periodic("x", setting="nope"),))])


def test_every_scheduled_kind_is_declared_and_heavy_work_is_not_upkeep() -> None:
    declared = set(WORK.registry.kinds)
    scheduled = {entry.kind for entry in WORK.schedule}
    assert scheduled <= declared
    # enqueue-ops (which the RBAC smoke check calls) never starts a backup or a drill
    assert set(WORK.upkeep) == scheduled - {"backups.create", "backups.restore_drill"}
    assert "mail.send" in declared  # queued by changes, never scheduled
    assert "mail.send" not in WORK.upkeep


def test_collecting_refuses_a_schedule_entry_nobody_declares() -> None:
    with pytest.raises(ValueError, match="no domain declares it"):
        Work.collect([Tasks(schedule=(Periodic("ghost", every=timedelta(minutes=1)),))])
    with pytest.raises(ValueError, match="declared twice"):
        kind = JobKind("twice", lambda _context, _payload: None)
        Work.collect([Tasks(kinds=(kind,)), Tasks(kinds=(kind,))])


def test_many_workers_at_once_enqueue_each_slot_once(db: Database) -> None:
    schedule = [EVERY_MINUTE, NIGHTLY]
    errors: list[BaseException] = []

    def tick(now: datetime) -> None:
        barrier.wait()
        try:
            enqueue_due(db, schedule, now=now)
        except BaseException as exc:
            errors.append(exc)

    for now in (T0, T0 + timedelta(seconds=20), T0 + timedelta(minutes=1)):
        barrier = threading.Barrier(6)
        threads = [threading.Thread(target=tick, args=(now,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
    jobs = _jobs(db)
    # 10:00 and 10:01 for the minutely entry (10:00:50 is the same slot as 10:00:30);
    # 03:30 today for the nightly one.
    assert sorted(j.unique_key or "" for j in jobs) == [
        "schedule:test.minutely:2026-11-22T10:00:00+00:00",
        "schedule:test.minutely:2026-11-22T10:01:00+00:00",
        "schedule:test.nightly:2026-11-22T03:30:00+00:00",
    ]


def test_a_slot_is_not_enqueued_again_after_its_job_finished(db: Database) -> None:
    assert set(enqueue_due(db, [EVERY_MINUTE], now=T0)) == {"test.minutely"}
    for job in claim(db, "w1", now=T0):
        assert complete(db, job)
    # The unique key is free again (the job finished), but the slot is on record.
    assert enqueue_due(db, [EVERY_MINUTE], now=T0 + timedelta(seconds=10)) == {}
    assert len(_jobs(db)) == 1


def test_missed_slots_are_not_caught_up_one_by_one(db: Database) -> None:
    enqueue_due(db, [EVERY_MINUTE], now=T0)
    later = T0 + timedelta(hours=5)
    enqueue_due(db, [EVERY_MINUTE], now=later)
    keys = [job.unique_key for job in _jobs(db)]
    assert keys == [
        "schedule:test.minutely:2026-11-22T10:00:00+00:00",
        "schedule:test.minutely:2026-11-22T15:00:00+00:00",
    ]
