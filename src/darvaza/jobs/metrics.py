"""The queue's figures for Prometheus, read from the database at scrape time, so any API
process shows them whichever process runs the workers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from darvaza.db import Database
from darvaza.jobs.models import JOB
from darvaza.jobs.service import queue_stats
from darvaza.logs import get_logger

log = get_logger("darvaza.jobs")


class QueueCollector(Collector):
    def __init__(self, db: Database, stale_after: timedelta) -> None:
        self.db = db
        self.stale_after = stale_after

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = queue_stats(self.db, stale_after=self.stale_after)
        except SQLAlchemyError:
            log.warning("queue_metrics_failed", exc_info=True)
            return
        jobs = GaugeMetricFamily(
            "darvaza_jobs", "Jobs in the queue table, by state and kind.", labels=["state", "kind"]
        )
        for (state, kind), count in sorted(stats.by_state_and_kind.items()):
            jobs.add_metric([state, kind], count)
        seen = {state for state, _ in stats.by_state_and_kind}
        for state in JOB.states:
            if state not in seen:
                jobs.add_metric([state, ""], 0)
        yield jobs
        yield GaugeMetricFamily(
            "darvaza_job_queue_lag_seconds",
            "How long the oldest due job has waited to start (0 when none waits).",
            value=stats.oldest_due_seconds,
        )
        workers = GaugeMetricFamily(
            "darvaza_workers", "Workers by whether their heartbeat is recent.", labels=["state"]
        )
        workers.add_metric(["live"], stats.workers_live)
        workers.add_metric(["gone"], stats.workers_gone)
        yield workers
