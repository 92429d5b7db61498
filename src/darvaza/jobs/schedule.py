"""Periodic jobs: declared in one table (an interval or a cron expression), enqueued by
whichever workers are running, once per time slot however many there are.

Each entry's last enqueued slot is a row in `job_schedules`. A worker locks the rows,
works out each entry's latest slot, and enqueues only a slot newer than the one on record,
in the same transaction that records it. Missed slots (every worker was down) are not
caught up one by one: the latest one runs, which is what upkeep jobs want.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from cronsim import CronSim, CronSimError
from sqlalchemy import select

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database, flushed
from darvaza.jobs.models import JobSchedule
from darvaza.jobs.queue import enqueue

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# How far back a cron entry looks for its latest slot when it has none on record (or the
# record is older): far enough for a daily job.
CRON_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class Periodic:
    kind: str
    every: timedelta | None = None
    cron: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    max_attempts: int = 3
    # The setting that holds the cron expression instead (empty turns the entry off).
    setting: str | None = None
    # Part of the upkeep an operator runs all at once (`darvaza jobs enqueue-ops`); heavy
    # work such as a backup runs only on its schedule or by its own command.
    upkeep: bool = True

    def __post_init__(self) -> None:
        if self.setting is not None:
            if self.every is not None or self.cron is not None:
                raise ValueError(f"{self.kind}: its setting gives its time")
            return
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"{self.kind}: give an interval or a cron expression, not both")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ValueError(f"{self.kind}: an interval under a second")
        if self.cron is not None:
            try:
                CronSim(self.cron, EPOCH)
            except CronSimError as exc:
                raise ValueError(f"{self.kind}: bad cron expression: {exc}") from None

    @property
    def name(self) -> str:
        return self.kind

    def configured(self, settings: Settings) -> Periodic | None:
        """This entry as the settings have it: its cron from its setting, or None when
        the setting turns it off."""
        if self.setting is None:
            return self
        cron = str(getattr(settings, self.setting)).strip()
        return replace(self, cron=cron, setting=None) if cron else None

    def latest_slot(self, now: datetime, since: datetime | None = None) -> datetime | None:
        """The latest slot at or before `now` (None if the cron has none in the window)."""
        if self.every is not None:
            return EPOCH + ((now - EPOCH) // self.every) * self.every
        assert self.cron is not None  # noqa: S101 (checked in __post_init__)
        start = now - CRON_LOOKBACK
        if since is not None and since > start:
            start = since
        latest = None
        for slot in CronSim(self.cron, start):
            if slot > now:
                break
            latest = slot
        return latest

    def next_slot(self, after: datetime) -> datetime:
        """The first slot after `after`."""
        if self.every is not None:
            return EPOCH + ((after - EPOCH) // self.every + 1) * self.every
        assert self.cron is not None  # noqa: S101 (checked in __post_init__)
        return next(iter(CronSim(self.cron, after)))


def enqueue_due(
    db: Database, schedule: Sequence[Periodic], *, now: datetime | None = None
) -> dict[str, int]:
    """Enqueue every entry whose latest slot is newer than the one on record; the jobs it
    added, by entry name. Safe to run from any number of workers at once."""
    if not schedule:
        return {}
    now = now or utcnow()
    added: dict[str, int] = {}
    with db.transaction() as session:
        rows = {
            row.name: row
            for row in session.scalars(
                select(JobSchedule)
                .where(JobSchedule.name.in_([entry.name for entry in schedule]))
                .order_by(JobSchedule.name)  # every worker locks in one order: no deadlock
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        # Inserts of missing rows wait on each other's unique keys: the same order again.
        for entry in sorted(schedule, key=lambda entry: entry.name):
            row = rows.get(entry.name)
            slot = entry.latest_slot(now, row.last_slot_at if row else None)
            if slot is None or (row is not None and row.last_slot_at >= slot):
                continue
            if row is None:
                row = JobSchedule(name=entry.name, last_slot_at=slot, updated_at=now)
                # Two workers starting together both find no row; one insert wins.
                if not flushed(session, partial(session.add, row)):
                    continue
            row.last_slot_at, row.updated_at = slot, now
            job_id = enqueue(
                session,
                entry.kind,
                entry.payload,
                max_attempts=entry.max_attempts,
                unique_key=f"schedule:{entry.name}:{slot.isoformat()}",
            )
            row.last_job_id = job_id
            if job_id is not None:
                added[entry.name] = job_id
    return added
