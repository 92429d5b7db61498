"""Worker processes that die: SIGKILL mid-job (the lease runs out, the job returns and
completes exactly once) and SIGTERM (drain: finish what can finish, give back the rest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.queue import enqueue
from tests.support.jobs import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(database_url: str, marker: Path, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.worker_process",
            database_url,
            str(marker),
            json.dumps(options),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(marker.parent / f"worker.{time.monotonic_ns()}.log").open("w"),
        text=True,
    )


def _lines(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def _job(db: Database, job_id: int) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _sleep_job(db: Database, seconds: float) -> int:
    with db.transaction() as session:
        job_id = enqueue(session, "test.sleep", {"seconds": seconds}, max_attempts=3)
    assert job_id is not None
    return job_id


def test_a_job_of_a_killed_worker_returns_and_completes_exactly_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    job_id = _sleep_job(db, 3)
    doomed = _start_worker(database_url, marker, lease=3)
    try:
        wait_for(lambda: f"start {job_id} 1 {doomed.pid}" in _lines(marker))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    finally:
        doomed.kill()
    job = _job(db, job_id)
    assert (job.state, job.attempts) == ("running", 1)  # nobody knows yet

    survivor = _start_worker(database_url, marker, lease=3)
    try:
        # The survivor's heartbeat rescues the job once its lease runs out, then runs it.
        wait_for(lambda: _job(db, job_id).state == "succeeded", timeout=40)
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0
    job = _job(db, job_id)
    assert job.attempts == 2
    assert "was not renewed" in (job.last_error or "")
    runs = [line for line in _lines(marker) if line.split()[1:2] == [str(job_id)]]
    assert [line.split()[0] for line in runs] == ["start", "start", "done"]
    assert runs[-1] == f"done {job_id} 2 {survivor.pid}"


def test_sigterm_drains_finishes_what_it_can_and_gives_back_the_rest(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    quick = _sleep_job(db, 0.5)
    slow = _sleep_job(db, 60)
    waiting = _sleep_job(db, 0)
    with db.transaction() as session:  # not due yet: the drain must not take it
        later = enqueue(
            session, "test.sleep", {"seconds": 0}, run_at=_job(db, quick).run_at.replace(year=2100)
        )
    worker = _start_worker(database_url, marker, concurrency=2, grace=2)
    try:
        wait_for(
            lambda: (
                {f"start {quick} 1", f"start {slow} 1"}
                <= {" ".join(line.split()[:3]) for line in _lines(marker)}
            )
        )
        worker.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert worker.wait(30) == 0
        drained_in = time.monotonic() - started
    finally:
        worker.kill()
    assert drained_in < 10
    assert _job(db, quick).state == "succeeded"
    given_back = _job(db, slow)
    assert (given_back.state, given_back.attempts, given_back.lease_owner) == ("queued", 0, None)
    assert "released" in (given_back.last_error or "")
    third = _job(db, waiting)
    # The third job was due too: it ran after the quick one freed a thread, or it waits.
    assert third.state in ("succeeded", "queued")
    assert third.lease_owner is None
    assert later is not None
    assert _job(db, later).state == "queued"
    with db.read() as session:
        (beat,) = session.query(WorkerHeartbeat).all()
    assert beat.state == "stopped"
    assert f"done {slow}" not in marker.read_text()
    assert os.path.exists(marker)
