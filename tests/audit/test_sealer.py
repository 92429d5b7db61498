"""The continuous sealer: a loop every worker runs, one of them leading at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from darvaza.assembly import WORK
from darvaza.audit.checkpoints import CheckpointFolder
from darvaza.audit.models import AuditPending, AuditSeal
from darvaza.audit.sealer import LEADER_LOCK, run_sealer
from darvaza.db import Database
from darvaza.jobs.worker import WorkerConfig
from tests.audit.support import KEYS, SECRET, append, verify
from tests.support.jobs import wait_for, worker_thread


def _sealed(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditSeal)) or 0)


def _pending(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditPending)) or 0)


def test_a_running_worker_seals_new_events_within_a_second(db: Database, tmp_path: Path) -> None:
    settings = {"audit_key": SECRET, "audit_checkpoint_dir": str(tmp_path),
                "audit_seal_interval_seconds": 0.1}  # fmt: skip
    quick = WorkerConfig(poll_seconds=0.05, shutdown_grace_seconds=5, loops=WORK.loops)
    with worker_thread(db, WORK.registry, quick, **settings):
        delays = []
        for _ in range(3):
            append(db, 4)
            started = time.monotonic()
            wait_for(lambda: _pending(db) == 0, timeout=10)
            delays.append(time.monotonic() - started)
    assert _sealed(db) == 12
    assert max(delays) < 1.0, delays
    report = verify(db, tmp_path)
    assert report.ok, report.problems
    assert len(CheckpointFolder(tmp_path).files()) == 1


@contextmanager
def _sealer(url: str, folder: Path) -> Iterator[threading.Event]:
    """A sealer with a database (so connections) of its own, on a thread."""
    db, stop = Database(url), threading.Event()
    thread = threading.Thread(
        target=run_sealer,
        args=(db, KEYS, CheckpointFolder(folder), stop),
        kwargs={"interval": 0.05, "standby": 0.1},
        daemon=True,
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
        db.dispose()


def _leaders(db: Database) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND granted AND objid = :key AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": LEADER_LOCK},
            )
            or 0
        )


def test_one_sealer_leads_and_another_takes_over(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    if db.backend != "postgresql":
        pytest.skip("leadership is PostgreSQL's advisory lock; SQLite sealers take turns")
    first = ExitStack()
    first.enter_context(_sealer(database_url, tmp_path))
    with first:
        wait_for(lambda: _leaders(db) == 1, timeout=10)
        with _sealer(database_url, tmp_path):
            append(db, 5)
            wait_for(lambda: _sealed(db) == 5, timeout=10)
            assert _leaders(db) == 1  # the second stood by
            first.close()  # the leader stops: its connection, and so its lock, go
            append(db, 3)
            wait_for(lambda: _sealed(db) == 8, timeout=10)  # the other took over
            assert _leaders(db) == 1
    report = verify(db, tmp_path)
    assert report.ok, report.problems
    assert (report.sealed, report.unsealed) == (8, 0)
