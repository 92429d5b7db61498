"""Incidents' figures for Prometheus, read from the database at scrape time: the incidents
still open or mitigated by severity, and the time to detect, to mitigate and to resolve
(from the impact's start) of the incidents declared in the last 90 days, as summaries by
severity (their mean is `_sum / _count`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.incidents.service import SEVERITIES, active_counts, recent_durations
from darvaza.logs import get_logger

log = get_logger("darvaza.incidents")
WINDOW = timedelta(days=90)
MEASURES = ("time_to_detect", "time_to_mitigate", "time_to_resolve")


class IncidentsCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily | SummaryMetricFamily]:
        try:
            active = active_counts(self.db)
            durations = recent_durations(self.db, since=utcnow() - WINDOW)
        except SQLAlchemyError:
            log.warning("incident_metrics_failed", exc_info=True)
            return
        gauge = GaugeMetricFamily(
            "darvaza_incidents_active",
            "Incidents open or mitigated, by severity and status.",
            labels=["severity", "status"],
        )
        for severity in SEVERITIES:
            for status in ("open", "mitigated"):
                gauge.add_metric([severity, status], active.get((severity, status), 0))
        yield gauge
        for measure in MEASURES:
            summary = SummaryMetricFamily(
                f"darvaza_incident_{measure}_seconds",
                f"Seconds from an incident's impact to its {measure.split('_')[-1]}, for the "
                "incidents declared in the last 90 days (cancelled ones left out).",
                labels=["severity"],
            )
            for severity in SEVERITIES:
                values: list[float] = [
                    value for s, d in durations if s == severity
                    if (value := d[measure]) is not None
                ]  # fmt: skip
                summary.add_metric([severity], count_value=len(values), sum_value=sum(values))
            yield summary
