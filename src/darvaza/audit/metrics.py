"""The sealer's backlog for Prometheus, read at scrape time: events committed but not
sealed yet, and how long the oldest has waited (alert when it grows: no sealer runs)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from darvaza.audit.models import AuditEvent, AuditPending
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.logs import get_logger

log = get_logger("darvaza.audit")


class SealerCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.db.read() as session:
                count, oldest = session.execute(
                    select(func.count(), func.min(AuditEvent.occurred_at))
                    .select_from(AuditPending)
                    .join(AuditEvent, AuditEvent.id == AuditPending.event_id)
                ).one()
        except SQLAlchemyError:
            log.warning("audit_metrics_failed", exc_info=True)
            return
        yield GaugeMetricFamily(
            "darvaza_audit_unsealed_events", "Audit events waiting for the sealer.", value=count
        )
        yield GaugeMetricFamily(
            "darvaza_audit_seal_lag_seconds",
            "How long the oldest audit event has waited for its seal (0 when none waits).",
            value=(utcnow() - oldest).total_seconds() if oldest is not None else 0.0,
        )
