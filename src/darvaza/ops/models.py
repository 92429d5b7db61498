"""The ops domain's tables: findings, their timeline, and each check's last run.

A finding is one fingerprint (a check's code and a subject): however often a check sees
the same thing, it is one row whose `last_seen_at` and `observations` move. Its state
moves only through `FINDING`: open → acknowledged (who, why, until when) → resolved when
a run no longer sees it; a recurrence or an expired acknowledgement opens it again.
`ops_finding_events` is its timeline, append-only, one line per change of state.
`ops_check_runs` holds one row per check: when it last ran, how long, what it raised and
the cursor it keeps; a check run locks its row, so runs of one check never interleave.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import AppendOnly, Base
from darvaza.states import table

FINDING = table(
    "finding",
    open="acknowledged resolved",
    acknowledged="open resolved",
    resolved="open",
)
# Findings someone should look at: not resolved.
UNRESOLVED = ("open", "acknowledged")


class OpsFinding(Base):
    __tablename__ = "ops_findings"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name="state_known"),
        CheckConstraint("severity IN ('critical', 'high', 'medium', 'low')", name="severity_known"),
        CheckConstraint("observations >= 1 AND recurrences >= 0", name="counts_sane"),
        # The summary reads the unresolved ones; a check run, its own code's.
        Index("ix_ops_findings_state_severity", "state", "severity", "first_seen_at"),
        Index("ix_ops_findings_code_state", "code", "state"),
        # Recently resolved ones, for the alerts that say so; lists by last change.
        Index("ix_ops_findings_state_updated_at", "state", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    # What the fingerprint was made of, so anyone can see why two observations are one.
    inputs: Mapped[dict[str, Any]]
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(200))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(16))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Since when it has been open this time (a recurrence starts a new episode).
    opened_at: Mapped[datetime]
    observations: Mapped[int] = mapped_column(Integer, default=1)
    recurrences: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]]
    tenants_affected: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    acknowledged_reason: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # Filled by the incidents domain when an incident is declared from this finding.
    incident_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[datetime]


# Events are numbered in the order they were written: two at the same instant still read
# in order.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class OpsFindingEvent(AppendOnly, Base):
    __tablename__ = "ops_finding_events"
    __table_args__ = (Index("ix_ops_finding_events_finding_id_id", "finding_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_findings.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    # opened, acknowledged, acknowledgement_expired, reopened, resolved
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]


class OpsCheckRun(Base):
    __tablename__ = "ops_check_runs"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The run last applied (its start time orders runs: an older one never overwrites).
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    # What the last run raised (None when it answered).
    error: Mapped[str | None] = mapped_column(Text)
    observed: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class AlertNotification(Base):
    """One alert for one finding through one route's receiver: `pending` until delivered
    (`sent`), or `dead` when every attempt failed (itself a finding, `alerts.undelivered`).
    The newest per finding and route decides when to repeat a firing alert."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        CheckConstraint("status IN ('firing', 'resolved')", name="status_known"),
        CheckConstraint("state IN ('pending', 'sent', 'dead')", name="state_known"),
        Index("ix_alert_notifications_finding_route", "finding_id", "route", "created_at"),
        Index("ix_alert_notifications_state_updated_at", "state", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_findings.id", ondelete="CASCADE"))
    route: Mapped[str] = mapped_column(String(64))
    receiver: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
