"""Helpers for job tests: the services handlers get, and a worker on a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from darvaza.billing.gateways import GatewayRegistry
from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.registry import Registry, Services
from darvaza.jobs.worker import Worker, WorkerConfig
from tests.support.settings import make_settings


def services(
    db: Database, *, transport: httpx.BaseTransport | None = None, **settings: object
) -> Services:
    made = make_settings(**settings)
    return Services(db, made, GatewayRegistry(made, db, transport=transport))


@contextmanager
def worker_thread(
    db: Database, registry: Registry, config: WorkerConfig, **settings: object
) -> Iterator[Worker]:
    """A real worker on a thread, once it has reported in; stopped (drained) when the
    block ends."""
    worker = Worker(services(db, **settings), registry, config)
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
