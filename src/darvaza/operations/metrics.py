"""The backups' figures for Prometheus, read from the evidence at scrape time: when the
last restore point and the last restore drill that passed finished (0: never, so an
alert on their age fires on a platform that never had one), the restore point's size and
time, and the last drill's verdict, RTO and RPO (left out until there is one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from darvaza.db import Database
from darvaza.logs import get_logger
from darvaza.operations.evidence import latest_evidence

log = get_logger("darvaza.operations")


def _gauges(figures: list[tuple[str, str, Any]]) -> Iterator[GaugeMetricFamily]:
    """One gauge per figure that has a number (a detail may be missing or null)."""
    for name, help_text, value in figures:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield GaugeMetricFamily(name, help_text, value=float(value))


class BackupsCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            backup = latest_evidence(self.db, kind="backup", result="passed")
            drilled = latest_evidence(self.db, kind="restore_drill", result="passed")
            drill = latest_evidence(self.db, kind="restore_drill")
        except SQLAlchemyError:
            log.warning("backup_metrics_failed", exc_info=True)
            return
        backup_details = backup.details if backup else {}
        drill_details = drill.details if drill else {}
        yield from _gauges([
            ("darvaza_backup_last_success_timestamp_seconds",
             "When the newest restore point that passed finished (Unix time; 0: never).",
             backup.finished_at.timestamp() if backup else 0),
            ("darvaza_restore_drill_last_success_timestamp_seconds",
             "When the newest restore drill that passed finished (Unix time; 0: never).",
             drilled.finished_at.timestamp() if drilled else 0),
            ("darvaza_backup_last_size_bytes", "The newest restore point's size.",
             backup_details.get("bytes")),
            ("darvaza_backup_last_duration_seconds",
             "How long the newest restore point took to write.", backup_details.get("seconds")),
            ("darvaza_restore_drill_last_passed",
             "1 when the newest restore drill passed, 0 otherwise.",
             None if drill is None else int(drill.result == "passed")),
            ("darvaza_restore_drill_last_rto_seconds",
             "The newest drill's time from its start to green smoke checks.",
             drill_details.get("rto_seconds")),
            ("darvaza_restore_drill_last_rpo_seconds",
             "The age of the newest change in the newest drill's restore point.",
             drill_details.get("rpo_seconds")),
        ])  # fmt: skip
