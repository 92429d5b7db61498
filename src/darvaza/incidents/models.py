"""Incidents' tables: the incident, its timeline, its status updates, its mitigation
actions, its review and the review's action items.

An incident's status moves only through `INCIDENT`. The timeline, the status updates and
the mitigation actions are append-only: the story of an incident, once told, stays told.
A timeline entry that stands for something elsewhere (a finding, an evidence, a support
grant) carries its `ref`, unique per incident, so it is written once however often it is
seen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import AppendOnly, Base
from darvaza.errors import N_
from darvaza.identity.models import User  # noqa: F401 (the users table, for foreign keys)
from darvaza.states import table

# Impact found, then contained, then gone, then learnt from; or a mistake, called off.
# A mitigation that did not hold sends it back to open.
INCIDENT = table(
    "incident",
    open="mitigated resolved cancelled",
    mitigated="open resolved cancelled",
    resolved="reviewed",
)
# Still someone's work: the status page shows them as current.
ACTIVE = ("open", "mitigated")


@dataclass(frozen=True)
class Severity:
    name: str
    description: str
    # A major incident (PagerDuty's SEV-1 and SEV-2) cannot be closed without a review.
    major: bool


SEVERITIES = {
    s.name: s
    for s in (
        Severity("SEV1", N_("Critical: the platform or payments are down for many tenants."), True),
        Severity(
            "SEV2", N_("Major: a core function is broken or degraded for many tenants."), True
        ),
        Severity("SEV3", N_("Minor: a function is degraded, or one tenant is affected."), False),
        Severity("SEV4", N_("Low: little or no impact on customers; a near miss."), False),
    )
}
ROLES = ("commander", "communications", "scribe")
COMPONENTS = ("api", "console", "payments", "downloads", "worker", "mail", "backups", "database")
MITIGATION_KINDS = ("rollback", "restore", "config_change", "other")
MITIGATION_RESULTS = ("succeeded", "partial", "failed")
# What a timeline entry records.
EVENT_KINDS = (
    "declared", "status", "severity", "role", "details", "times", "note", "update",
    "mitigation", "finding", "evidence", "support_grant", "review", "action_item",
)  # fmt: skip


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


# Timeline entries are numbered in the order they were written: two at one instant still
# read in order.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(one_of("status", INCIDENT.states), name="status_known"),
        CheckConstraint(one_of("severity", tuple(SEVERITIES)), name="severity_known"),
        # The service keeps the times in order; the database refuses what slips through.
        CheckConstraint(
            "started_at <= detected_at AND detected_at <= declared_at", name="times_ordered"
        ),
        CheckConstraint(
            "resolved_at IS NULL OR mitigated_at IS NULL OR mitigated_at <= resolved_at",
            name="resolution_ordered",
        ),
        Index("ix_incidents_status_declared", "status", "declared_at"),
        Index("ix_incidents_declared", "declared_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    components: Mapped[list[str]]
    # Every tenant, or those named (ids as text).
    all_tenants: Mapped[bool] = mapped_column(default=False)
    tenant_ids: Mapped[list[str]]
    # The roles as they stand now; the timeline holds who held them before.
    commander_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    communications_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    scribe_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    declared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # When the impact began (may be long before anyone noticed), was noticed, was declared,
    # contained and gone; kept in that order.
    started_at: Mapped[datetime]
    detected_at: Mapped[datetime]
    declared_at: Mapped[datetime]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # The next status update is due then (while the incident is open or mitigated).
    next_update_due_at: Mapped[datetime | None]
    # Set by the first public update: until then the status page knows nothing of it.
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class IncidentEvent(AppendOnly, Base):
    """One line of the incident's story: what happened, who did it, and why."""

    __tablename__ = "incident_events"
    __table_args__ = (
        CheckConstraint(one_of("kind", EVENT_KINDS), name="kind_known"),
        UniqueConstraint("incident_id", "ref", name="uq_incident_events_incident_id_ref"),
        Index("ix_incident_events_incident_id_id", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"))
    # When it happened (a linked grant's request time, a note's writing): the timeline
    # reads in this order.
    occurred_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    # What it stands for elsewhere (`finding:<id>`, `evidence:<id>`, `support_grant:<id>`).
    ref: Mapped[str | None] = mapped_column(String(80))


class IncidentUpdate(AppendOnly, Base):
    """A status update: internal (staff only) or public (the status page, the affected
    tenants' owners)."""

    __tablename__ = "incident_updates"
    __table_args__ = (Index("ix_incident_updates_incident", "incident_id", "posted_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"))
    public: Mapped[bool]
    body: Mapped[str] = mapped_column(Text)
    # The incident's status when it was posted (the status page shows it beside the text).
    status: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    posted_at: Mapped[datetime]
    next_update_due_at: Mapped[datetime | None]


class IncidentAction(AppendOnly, Base):
    """A mitigation step as it was run: a rollback or a restore names its evidence."""

    __tablename__ = "incident_actions"
    __table_args__ = (
        CheckConstraint(one_of("kind", MITIGATION_KINDS), name="kind_known"),
        CheckConstraint(one_of("result", MITIGATION_RESULTS), name="result_known"),
        Index("ix_incident_actions_incident", "incident_id", "performed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16))
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    performed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    performed_at: Mapped[datetime]


class IncidentReview(Base):
    """The post-incident review: blameless, one per incident."""

    __tablename__ = "incident_reviews"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    # What the data says (tenants, payments, downloads in the impact window) and what the
    # authors add.
    impact: Mapped[dict[str, Any]]
    impact_notes: Mapped[str] = mapped_column(Text)
    timeline_summary: Mapped[str] = mapped_column(Text)
    root_causes: Mapped[str] = mapped_column(Text)
    went_well: Mapped[str] = mapped_column(Text)
    went_badly: Mapped[str] = mapped_column(Text)
    written_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    written_at: Mapped[datetime]


class IncidentActionItem(Base):
    """Work the review asks for, with an owner and a due date; overdue is a finding."""

    __tablename__ = "incident_action_items"
    __table_args__ = (Index("ix_incident_action_items_open_due", "done_at", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"))
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
