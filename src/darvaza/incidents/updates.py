"""Status updates, and the public status page built from the published ones.

An update is internal (staff only) or public. Each one sets when the next is due, by the
incident's severity; an incident that goes past it is a finding. A public update makes
the incident known on the status page (from then on) and is mailed to the affected
tenants' owners. The status page shows only what was published: the public updates'
texts, the incident's title, severity, status and components; never a note, never a
tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.errors import Conflict
from darvaza.incidents.incidents import IncidentRules
from darvaza.incidents.models import ACTIVE, COMPONENTS, SEVERITIES, Incident, IncidentUpdate
from darvaza.incidents.timeline import change, record, text, user_of
from darvaza.mail import queue_mail
from darvaza.security.caller import Actor
from darvaza.tenants import service as tenants

# At most this many owners are mailed for one update of an incident affecting every tenant.
MAX_MAILED = 2_000


def post_update(
    db: Database, actor: Actor, rules: IncidentRules, incident_id: uuid.UUID, *, body: str,
    public: bool,
) -> uuid.UUID:  # fmt: skip
    """Post a status update; a public one is published and mailed."""
    body = text(body, "body", limit=5_000)

    def apply(session: Session, incident: Incident, now: datetime) -> uuid.UUID:
        if public and incident.status == "cancelled":
            raise Conflict("A cancelled incident publishes nothing more.",
                           code="incident_cancelled")  # fmt: skip
        due = rules.next_update(incident.severity, now) if incident.status in ACTIVE else None
        update = IncidentUpdate(
            incident_id=incident.id, public=public, body=body, status=incident.status,
            author_id=user_of(actor), posted_at=now, next_update_due_at=due,
        )  # fmt: skip
        session.add(update)
        session.flush()
        incident.next_update_due_at = due
        if public:
            incident.published_at = incident.published_at or now
        kind = "public" if public else "internal"
        record(session, incident, "update", f"{kind.capitalize()} update: {body}", actor, now,
               data={"public": public, "update_id": str(update.id),
                     "next_update_due_at": due.isoformat() if due else None})  # fmt: skip
        if public and rules.mail_owners:
            _mail_owners(session, incident, update, rules)
        return update.id

    return change(db, incident_id, apply)


def _mail_owners(session: Session, incident: Incident, update: IncidentUpdate,
                 rules: IncidentRules) -> None:  # fmt: skip
    tenant_ids = None if incident.all_tenants else [uuid.UUID(t) for t in incident.tenant_ids]
    emails = tenants.owner_emails_of(session, tenant_ids, limit=MAX_MAILED)
    subject = f"[{incident.severity}] {incident.title}: {update.status}"
    body = (
        f"{update.body}\n\nStatus: {update.status}\n"
        f"Affected: {', '.join(incident.components) or 'see the status page'}\n"
        f"Posted: {update.posted_at.isoformat()}\n\n"
        f"Follow it on the status page: {rules.console_url}/status\n"
    )
    for email in emails:
        queue_mail(session, to=email, subject=subject, text=body)


def overdue_updates(session: Session, now: datetime, *, limit: int) -> Sequence[Incident]:
    """Open or mitigated incidents whose next update is past due, most overdue first."""
    return session.scalars(
        select(Incident)
        .where(Incident.status.in_(ACTIVE), Incident.next_update_due_at < now)
        .order_by(Incident.next_update_due_at)
        .limit(limit)
    ).all()


# --- The public status page ------------------------------------------------------------

# A component's state under the worst published incident touching it.
OPERATIONAL = "operational"
STATE_BY_SEVERITY = {
    "SEV1": "major_outage",
    "SEV2": "partial_outage",
    "SEV3": "degraded",
    "SEV4": "degraded",
}
STATE_ORDER = ("major_outage", "partial_outage", "degraded", "monitoring", OPERATIONAL)


@dataclass(frozen=True)
class PublicUpdate:
    posted_at: datetime
    status: str
    body: str


@dataclass(frozen=True)
class PublicIncident:
    id: uuid.UUID
    title: str
    severity: str
    major: bool
    status: str
    components: list[str]
    started_at: datetime
    published_at: datetime
    resolved_at: datetime | None
    updates: list[PublicUpdate]


@dataclass(frozen=True)
class PublicStatus:
    generated_at: datetime
    # The worst state of any component.
    overall: str
    components: dict[str, str]
    current: list[PublicIncident]
    recent: list[PublicIncident]


def _component_state(incident: Incident) -> str:
    return "monitoring" if incident.status == "mitigated" else STATE_BY_SEVERITY[incident.severity]


def public_status(db: Database, *, days: int, now: datetime | None = None) -> PublicStatus:
    """What the world may know: published incidents, current ones and those that ended in
    the last `days`, with their public updates only."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    with db.read() as session:
        incidents = session.scalars(
            select(Incident)
            .where(
                Incident.published_at.is_not(None),
                or_(
                    Incident.status.in_(ACTIVE),
                    Incident.resolved_at >= since,
                    Incident.cancelled_at >= since,
                ),
            )
            .order_by(Incident.declared_at.desc())
            .limit(50)
        ).all()
        updates: dict[uuid.UUID, list[PublicUpdate]] = {i.id: [] for i in incidents}
        for update in session.scalars(
            select(IncidentUpdate)
            .where(IncidentUpdate.incident_id.in_(updates), IncidentUpdate.public.is_(True))
            .order_by(IncidentUpdate.posted_at.desc())
        ):
            updates[update.incident_id].append(
                PublicUpdate(update.posted_at, update.status, update.body)
            )
    components = dict.fromkeys(COMPONENTS, OPERATIONAL)
    for incident in incidents:
        if incident.status not in ACTIVE:
            continue
        state = _component_state(incident)
        for name in incident.components:
            if STATE_ORDER.index(state) < STATE_ORDER.index(components[name]):
                components[name] = state
    views = [
        PublicIncident(
            i.id, i.title, i.severity, SEVERITIES[i.severity].major, i.status, list(i.components),
            i.started_at, i.published_at or i.declared_at, i.resolved_at, updates[i.id],
        )
        for i in incidents
    ]  # fmt: skip
    overall = min(components.values(), key=STATE_ORDER.index)
    return PublicStatus(
        now, overall, components,
        [v for v in views if v.status in ACTIVE], [v for v in views if v.status not in ACTIVE],
    )  # fmt: skip
