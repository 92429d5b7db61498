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


def _gauge(name: str, help_text: str, value: Any) -> Iterator[GaugeMetricFamily]:
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
        yield from _gauge(
            "darvaza_backup_last_success_timestamp_seconds",
            "When the newest restore point that passed finished (Unix time; 0: never).",
            backup.finished_at.timestamp() if backup else 0,
        )
        yield from _gauge(
            "darvaza_restore_drill_last_success_timestamp_seconds",
            "When the newest restore drill that passed finished (Unix time; 0: never).",
            drilled.finished_at.timestamp() if drilled else 0,
        )
        if backup is not None:
            yield from _gauge(
                "darvaza_backup_last_size_bytes",
                "The newest restore point's size.",
                backup.details.get("bytes"),
            )
            yield from _gauge(
                "darvaza_backup_last_duration_seconds",
                "How long the newest restore point took to write.",
                backup.details.get("seconds"),
            )
        if drill is not None:
            yield from _gauge(
                "darvaza_restore_drill_last_passed",
                "1 when the newest restore drill passed, 0 otherwise.",
                1 if drill.result == "passed" else 0,
            )
            yield from _gauge(
                "darvaza_restore_drill_last_rto_seconds",
                "The newest drill's time from its start to green smoke checks.",
                drill.details.get("rto_seconds"),
            )
            yield from _gauge(
                "darvaza_restore_drill_last_rpo_seconds",
                "The age of the newest change in the newest drill's restore point.",
                drill.details.get("rpo_seconds"),
            )
