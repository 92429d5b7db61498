"""Incidents as staff see them: the list, and one incident with everything about it (its
people by email, its tenants by slug, updates, mitigation steps, linked findings, the
tenants those findings suggest, the review and its action items, and its durations)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from darvaza.db import Database
from darvaza.errors import InvalidInput
from darvaza.identity import service as identity
from darvaza.incidents.models import (
    ACTIVE,
    INCIDENT,
    Incident,
    IncidentAction,
    IncidentActionItem,
    IncidentEvent,
    IncidentReview,
    IncidentUpdate,
)
from darvaza.incidents.timeline import NOT_FOUND, timeline_cursor, timeline_of
from darvaza.ops import service as ops
from darvaza.paging import Page, newest_first, page_of, time_cursor
from darvaza.tenants import service as tenants


@dataclass(frozen=True)
class LinkedFinding:
    id: uuid.UUID
    code: str
    title: str
    severity: str
    state: str
    tenant_id: uuid.UUID | None


def durations(incident: Incident) -> dict[str, float | None]:
    """Seconds from the impact's start to its detection, its mitigation, its resolution."""

    def since_start(at: datetime | None) -> float | None:
        return (at - incident.started_at) / timedelta(seconds=1) if at else None

    return {
        "time_to_detect": since_start(incident.detected_at),
        "time_to_mitigate": since_start(incident.mitigated_at),
        "time_to_resolve": since_start(incident.resolved_at),
    }


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    # Emails of everyone it names, and slugs of its tenants.
    people: dict[uuid.UUID, str]
    tenant_slugs: dict[uuid.UUID, str]
    updates: list[IncidentUpdate]
    actions: list[IncidentAction]
    findings: list[LinkedFinding]
    # Tenants of linked findings the incident does not name yet.
    suggested_tenants: list[str]
    review: IncidentReview | None
    action_items: list[IncidentActionItem]

    @property
    def allowed(self) -> list[str]:
        return sorted(INCIDENT.transitions[self.incident.status])

    @property
    def named_tenants(self) -> list[str]:
        """The affected tenants' slugs (none when every tenant is)."""
        return [self.tenant_slugs.get(uuid.UUID(t), t) for t in self.incident.tenant_ids]

    def email(self, user_id: uuid.UUID | None) -> str | None:
        return self.people.get(user_id) if user_id else None


def view_of(session: Session, incident: Incident) -> IncidentView:
    updates = list(session.scalars(
        select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id)
        .order_by(IncidentUpdate.posted_at.desc())
    ))  # fmt: skip
    actions = list(session.scalars(
        select(IncidentAction).where(IncidentAction.incident_id == incident.id)
        .order_by(IncidentAction.performed_at)
    ))  # fmt: skip
    items = list(session.scalars(
        select(IncidentActionItem).where(IncidentActionItem.incident_id == incident.id)
        .order_by(IncidentActionItem.due_at)
    ))  # fmt: skip
    review = session.get(IncidentReview, incident.id)
    findings = [
        LinkedFinding(f.id, f.code, f.title, f.severity, f.state, f.tenant_id)
        for f in ops.findings_of_incident(session, incident.id)
    ]
    named = set(incident.tenant_ids)
    suggested_ids = [] if incident.all_tenants else list(dict.fromkeys(
        f.tenant_id for f in findings if f.tenant_id and str(f.tenant_id) not in named
    ))  # fmt: skip
    tenant_ids = [uuid.UUID(t) for t in incident.tenant_ids] + suggested_ids
    slugs = tenants.slugs_by_id(session, tenant_ids)
    people_ids = {
        incident.commander_id, incident.communications_id, incident.scribe_id,
        incident.declared_by, *(u.author_id for u in updates), *(a.performed_by for a in actions),
        *(i.owner_id for i in items), *(i.done_by for i in items),
        review.written_by if review else None,
    }  # fmt: skip
    return IncidentView(
        incident, identity.emails_by_id(session, [i for i in people_ids if i]), slugs, updates,
        actions, findings, [slugs[t] for t in suggested_ids if t in slugs], review, items,
    )  # fmt: skip


def get_incident(db: Database, incident_id: uuid.UUID) -> IncidentView:
    with db.read() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NOT_FOUND
        return view_of(session, incident)


def list_incidents(
    db: Database, *, statuses: Sequence[str] = (), severities: Sequence[str] = (),
    cursor: str | None = None, limit: int = 50,
) -> Page[Incident]:  # fmt: skip
    """Incidents, the most recently declared first."""
    query = select(Incident)
    if statuses:
        query = query.where(Incident.status.in_(statuses))
    if severities:
        query = query.where(Incident.severity.in_(severities))
    query = newest_first(query, Incident.declared_at, Incident.id, cursor=cursor, limit=limit)
    with db.read() as session:
        rows = session.scalars(query).all()
    return page_of(rows, limit, lambda i: time_cursor(i.declared_at, i.id))


@dataclass(frozen=True)
class TimelineView:
    events: list[IncidentEvent]
    people: dict[uuid.UUID, str]
    next_cursor: str | None


def incident_timeline(
    db: Database, incident_id: uuid.UUID, *, cursor: str | None = None, limit: int = 200
) -> TimelineView:
    """The incident's story, oldest first, a page at a time."""
    if limit < 1:
        raise InvalidInput("`limit` is at least 1.", code="invalid_limit")
    with db.read() as session:
        if session.get(Incident, incident_id) is None:
            raise NOT_FOUND
        rows = timeline_of(session, incident_id, cursor=cursor, limit=limit)
        page = page_of(rows, limit, timeline_cursor)
        people = identity.emails_by_id(session, [e.actor_id for e in page.items if e.actor_id])
    return TimelineView(page.items, people, page.next_cursor)


def active_counts(db: Database) -> dict[tuple[str, str], int]:
    """Open and mitigated incidents by severity and status."""
    with db.read() as session:
        rows = session.execute(
            select(Incident.severity, Incident.status, func.count())
            .where(Incident.status.in_(ACTIVE))
            .group_by(Incident.severity, Incident.status)
        ).all()
    return {(severity, status): int(count) for severity, status, count in rows}


def recent_durations(db: Database, *, since: datetime) -> list[tuple[str, dict[str, float | None]]]:
    """Each incident declared since then (not cancelled): its severity and durations."""
    with db.read() as session:
        incidents = session.scalars(
            select(Incident).where(Incident.declared_at >= since, Incident.status != "cancelled")
        ).all()
        return [(incident.severity, durations(incident)) for incident in incidents]
