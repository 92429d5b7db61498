"""The findings' figures for Prometheus, read from the database at scrape time: open
findings by check and severity, and each check's freshness, so operators who already run
Prometheus alert on them with the rules in docs/monitoring/."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from darvaza.checks import CheckSet
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.logs import get_logger
from darvaza.ops.summary import check_statuses, open_counts

log = get_logger("darvaza.ops")


class FindingsCollector(Collector):
    def __init__(self, db: Database, checks: CheckSet) -> None:
        self.db = db
        self.checks = checks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        try:
            counts = open_counts(self.db)
            statuses = check_statuses(self.db, self.checks, now)
        except SQLAlchemyError:
            log.warning("findings_metrics_failed", exc_info=True)
            return
        findings = GaugeMetricFamily(
            "darvaza_ops_findings_open",
            "Unresolved ops findings (open or acknowledged), by check and severity.",
            labels=["code", "severity"],
        )
        for check in self.checks:
            findings.add_metric(
                [check.code, check.severity], counts.get((check.code, check.severity), 0)
            )
        yield findings
        age = GaugeMetricFamily(
            "darvaza_ops_check_age_seconds",
            "Seconds since each ops check last finished (-1 when it never ran).",
            labels=["code"],
        )
        stale = GaugeMetricFamily(
            "darvaza_ops_check_stale",
            "1 when an ops check has not run within twice its interval and a minute.",
            labels=["code"],
        )
        failing = GaugeMetricFamily(
            "darvaza_ops_check_error",
            "1 when an ops check's last run raised.",
            labels=["code"],
        )
        for status in statuses:
            code = status.check.code
            finished = status.run.finished_at if status.run else None
            age.add_metric([code], (now - finished).total_seconds() if finished else -1.0)
            stale.add_metric([code], float(status.stale))
            failing.add_metric([code], float(status.error is not None))
        yield age
        yield stale
        yield failing
