"""Waking idle workers the moment a job becomes due, instead of at their next poll.

On PostgreSQL, putting a job in the queue due now sends `NOTIFY darvaza_jobs, '<queue>'`
in the same transaction, so the notice goes out when (and only if) the job commits.
Each worker keeps one connection listening and wakes its claim loop on a notice for one of
its queues. Polling stays as the safety net: a notice lost while the listener reconnects
delays a job by one poll at most. SQLite has no notices; its workers poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any, cast

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from darvaza.db import Database
from darvaza.logs import get_logger

log = get_logger("darvaza.worker")

CHANNEL = "darvaza_jobs"
RECONNECT_SECONDS = (1.0, 2.0, 5.0, 10.0)


def notify_due(session: Session, queue: str) -> None:
    """Tell listening workers that `queue` has a job due now, when this transaction commits.
    PostgreSQL folds identical notices of one transaction into one."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :queue)"), {"channel": CHANNEL, "queue": queue}
        )


def listen_for_due_jobs(
    db: Database,
    queues: Collection[str],
    on_due: Callable[[], None],
    stop: threading.Event,
) -> None:
    """Call `on_due` for each notice about one of `queues` until `stop` is set (a thread's
    body). The connection is the listener's own, outside the pool; a lost connection is
    opened again after a pause, and `on_due` is called once it listens again, since
    notices sent meanwhile are gone."""
    failures = 0
    while not stop.is_set():
        try:
            with db.engine.connect() as pooled:
                pooled.detach()  # closed for good when done, never back in the pool
                raw = cast(psycopg.Connection[Any], pooled.connection.dbapi_connection)
                raw.rollback()  # end SQLAlchemy's implicit transaction before autocommit
                raw.autocommit = True
                raw.execute(f"LISTEN {CHANNEL}")
                failures = 0
                on_due()
                while not stop.is_set():
                    for notice in raw.notifies(timeout=1.0):
                        if notice.payload in queues:
                            on_due()
        except Exception as error:  # noqa: BLE001 - a lost listener only means polling
            delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
            failures += 1
            log.warning("job_listener_lost", error=str(error)[:300], retry_in_seconds=delay)
            stop.wait(delay)
