"""The job queue: enqueue rate, and no-op job throughput with 1, 2 and 4 worker processes
(the real `Worker`, each process its own pool of threads), with the lag from a job being
due to its start (p50, p99), on SQLite and (when it answers) PostgreSQL.

    .venv/bin/python -m bench.jobs [--jobs N] [--concurrency C] [--postgres URL]

Each round starts the workers first and waits for their heartbeats, then enqueues every
job in one transaction, due at once, and times until the last one has succeeded: worker
start-up is not in the figure, claiming, running and recording are.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bench.support import postgres_database
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.queue import enqueue, enqueue_many
from darvaza.jobs.registry import JobContext, JobKind, Registry
from darvaza.jobs.worker import Worker, WorkerConfig, run_until_signalled
from darvaza.migrate import upgrade_to_head

NOOP = "bench.noop"


def _noop(_context: JobContext, _payload: dict[str, Any]) -> None:
    return None


def worker_main(database_url: str, concurrency: int) -> int:
    """One worker process (`python -m bench.jobs --worker URL C`)."""
    from darvaza.assembly import assemble
    from darvaza.config import Settings

    db = Database(database_url, pool_size=concurrency + 4)
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    worker = Worker(
        assemble(settings, db),
        Registry([JobKind(NOOP, _noop)]),
        WorkerConfig(concurrency=concurrency, shutdown_grace_seconds=5),
    )
    try:
        return run_until_signalled(worker)
    finally:
        db.dispose()


def enqueue_rate(db: Database, count: int) -> tuple[float, float]:
    """Jobs a second: one job per transaction (the usual case: a job with its change),
    and a thousand per transaction with `enqueue_many`."""
    started = time.perf_counter()
    for n in range(count):
        with db.transaction() as session:
            enqueue(session, NOOP, {"n": n})
    single = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for chunk in range(10):
        with db.transaction() as session:
            enqueue_many(session, NOOP, [{"n": chunk * 1000 + n} for n in range(1000)])
    batched = 10_000 / (time.perf_counter() - started)
    with db.transaction() as session:
        session.execute(delete(Job))
    return single, batched


@contextmanager
def workers(database_url: str, db: Database, count: int, concurrency: int) -> Iterator[None]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.jobs", "--worker", database_url, str(concurrency)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        deadline = time.monotonic() + 60
        while _count(db, WorkerHeartbeat, WorkerHeartbeat.state == "running") < count:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.05)
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        with db.transaction() as session:
            session.execute(delete(WorkerHeartbeat))


def _count(db: Database, model: type, *where: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def throughput(
    database_url: str, db: Database, processes: int, jobs: int, concurrency: int
) -> tuple[float, float, float]:
    with workers(database_url, db, processes, concurrency):
        with db.transaction() as session:
            enqueue_many(session, NOOP, [{"n": n} for n in range(jobs)])
        committed, started = utcnow(), time.perf_counter()
        while _count(db, Job, Job.state == "succeeded") < jobs:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    p50, p99 = _lags_then_clear(db, visible_at=committed)
    return jobs / elapsed, p50, p99


def steady_lag(
    database_url: str, db: Database, per_second: int, seconds: float
) -> tuple[float, float]:
    """Pickup latency with the queue nearly empty: one worker (default settings) while
    jobs arrive one at a time at a steady rate. Bounded by the poll interval on SQLite;
    PostgreSQL wakes the worker with a notice."""
    with workers(database_url, db, 1, 4):
        for n in range(int(per_second * seconds)):
            with db.transaction() as session:
                enqueue(session, NOOP, {"n": n})
            time.sleep(1 / per_second)
        while _count(db, Job, Job.state != "succeeded"):
            time.sleep(0.05)
    return _lags_then_clear(db)


def _lags_then_clear(db: Database, visible_at: datetime | None = None) -> tuple[float, float]:
    """p50 and p99 of the time from due to start, in milliseconds; then an empty queue.
    `visible_at`: when a batch enqueued in one long transaction committed, since its jobs'
    due time is the transaction's start and no worker could see them before the commit."""
    with db.read() as session:
        lags = sorted(
            (started_at - max(run_at, visible_at or run_at)) / timedelta(milliseconds=1)
            for started_at, run_at in session.execute(select(Job.started_at, Job.run_at))
        )
    with db.transaction() as session:
        session.execute(delete(Job))
    return statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))]


def run(database_url: str, label: str, jobs: int, concurrency: int) -> None:
    db = Database(database_url)
    try:
        upgrade_to_head(db)
        single, batched = enqueue_rate(db, 2000)
        print(
            f"{label}: enqueue {single:,.0f} jobs/s one per transaction, "
            f"{batched:,.0f} jobs/s a thousand per transaction"
        )
        p50, p99 = steady_lag(database_url, db, 20, 5)
        print(
            f"{label}: lag at a steady 20 jobs/s, 1 worker (poll 1 s; PostgreSQL is woken): "
            f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms"
        )
        for processes in (1, 2, 4):
            rate, p50, p99 = throughput(database_url, db, processes, jobs, concurrency)
            print(
                f"{label}: {processes} worker process(es) x {concurrency} threads: "
                f"{rate:,.0f} no-op jobs/s; lag from commit to start p50 {p50:,.0f} ms, "
                f"p99 {p99:,.0f} ms ({jobs:,} jobs)"
            )
    finally:
        db.dispose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2], int(sys.argv[3])))
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/bench.db", "sqlite", args.jobs, args.concurrency)
    with postgres_database(args.postgres) as url:
        if url is not None:
            run(url, "postgresql", args.jobs, args.concurrency)


if __name__ == "__main__":
    main()
