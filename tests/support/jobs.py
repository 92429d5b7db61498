"""Helpers for job tests: the parts handlers get, and a worker on a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from darvaza.assembly import assemble
from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.registry import Registry
from darvaza.jobs.worker import Worker, WorkerConfig
from darvaza.parts import Parts
from tests.support.settings import make_settings


def parts(
    db: Database, *, transport: httpx.BaseTransport | None = None, **settings: object
) -> Parts:
    return assemble(make_settings(**settings), db, transport=transport)


@contextmanager
def worker_thread(
    db: Database, registry: Registry, config: WorkerConfig, **settings: object
) -> Iterator[Worker]:
    """A real worker on a thread, once it has reported in; stopped (drained) when the
    block ends."""
    worker = Worker(parts(db, **settings), registry, config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    def reported() -> bool:
        with db.read() as session:
            return session.get(WorkerHeartbeat, worker.id) is not None

    wait_for(reported)
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(config.shutdown_grace_seconds + 30)
        assert not thread.is_alive(), "the worker did not stop"


def job_states(db: Database) -> dict[int, str]:
    with db.read() as session:
        return {job.id: job.state for job in session.query(Job)}


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout}s: {condition}")
