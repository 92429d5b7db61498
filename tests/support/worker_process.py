"""A worker process for tests that kill it: the real Worker and the real signal handling,
with job kinds that write down each run in a file (`start <job> <attempt>`, then
`done <job> <attempt>`), so a test sees what ran, and how often, across processes.

    python -m tests.support.worker_process DATABASE_URL MARKER_FILE [options as JSON]
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from darvaza.db import Database
from darvaza.jobs.registry import JobContext, JobKind, Registry
from darvaza.jobs.worker import Worker, WorkerConfig, run_until_signalled
from tests.support.jobs import parts


def _marker(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def main() -> int:
    database_url, marker = sys.argv[1], Path(sys.argv[2])
    options: dict[str, Any] = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}

    def sleep(context: JobContext, payload: dict[str, Any]) -> None:
        job = context.job
        _marker(marker, f"start {job.id} {job.attempts} {os.getpid()}")
        time.sleep(float(payload.get("seconds", 0)))
        _marker(marker, f"done {job.id} {job.attempts} {os.getpid()}")

    registry = Registry([JobKind("test.sleep", sleep, timeout=timedelta(seconds=120))])
    db = Database(database_url)
    worker = Worker(
        parts(db),
        registry,
        WorkerConfig(
            concurrency=int(options.get("concurrency", 2)),
            lease=timedelta(seconds=float(options.get("lease", 30))),
            poll_seconds=0.05,
            shutdown_grace_seconds=float(options.get("grace", 30)),
        ),
    )
    _marker(marker, f"worker {worker.id}")
    try:
        return run_until_signalled(worker)
    finally:
        db.dispose()


if __name__ == "__main__":
    sys.exit(main())
