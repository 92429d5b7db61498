"""An incident's timeline, and the one way an incident is changed.

Every change locks the incident's row, reads the time once the row is ours, acts, and
writes its timeline entry and an audit event in the same transaction (pretix's pattern).
Things that happen elsewhere and belong in the story (support grants opened for the
affected tenants while the incident is open) are written in by whoever next changes the
incident, and by a periodic job: each is a `ref` written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database, lock_row
from darvaza.errors import InvalidInput, NotFound
from darvaza.incidents.models import ACTIVE, Incident, IncidentEvent
from darvaza.paging import epoch_microseconds, from_epoch_microseconds
from darvaza.security.caller import Actor
from darvaza.support import service as support

NOT_FOUND = NotFound("No incident has this id.", code="incident_not_found")
MAX_TEXT = 10_000
T = TypeVar("T")


def user_of(actor: Actor) -> uuid.UUID | None:
    """The person behind an actor (None for the operator at the machine, or the system)."""
    return uuid.UUID(actor.id) if actor.type == "user" and actor.id else None


def text(value: str | None, what: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    """A piece of text an incident needs, trimmed; refused when empty (if required) or too
    long, with a code naming it."""
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"The incident needs a {what.replace('_', ' ')}.",
                           code=f"invalid_{what}")  # fmt: skip
    if len(value) > limit:
        raise InvalidInput(f"The {what.replace('_', ' ')} is longer than {limit} characters.",
                           code=f"invalid_{what}")  # fmt: skip
    return value


def record(
    session: Session, incident: Incident, kind: str, line: str, actor: Actor, at: datetime, *,
    data: dict[str, Any] | None = None, ref: str | None = None,
) -> IncidentEvent:  # fmt: skip
    """One line of the story, and its audit event."""
    event = IncidentEvent(
        incident_id=incident.id, occurred_at=at, kind=kind, actor_id=user_of(actor),
        actor_role=actor.role, text=line, data=data or {}, ref=ref,
    )  # fmt: skip
    session.add(event)
    append_event(
        session, action=f"incident.{kind}", actor=actor, target_type="incident",
        target_id=incident.id, reason=line[:500], data={"status": incident.status, **(data or {})},
    )  # fmt: skip
    return event


def has_ref(session: Session, incident_id: uuid.UUID, ref: str) -> bool:
    found = session.scalar(
        select(IncidentEvent.id).where(
            IncidentEvent.incident_id == incident_id, IncidentEvent.ref == ref
        )
    )
    return found is not None


def note_support_grants(session: Session, incident: Incident, now: datetime) -> int:
    """Write in the support grants asked for, for the affected tenants, since the incident
    was declared and while it was open; each once."""
    until = incident.resolved_at or incident.cancelled_at or now
    tenant_ids = None if incident.all_tenants else [uuid.UUID(t) for t in incident.tenant_ids]
    if tenant_ids == []:
        return 0
    written = 0
    for grant in support.grants_requested(session, tenant_ids, incident.declared_at, until):
        ref = f"support_grant:{grant.id}"
        if has_ref(session, incident.id, ref):
            continue
        scope = ", ".join(grant.data_classes) + f" ({grant.access})"
        record(
            session, incident, "support_grant",
            f"Support access was asked for ({scope}): {grant.reason}",
            Actor.system("incidents"), grant.requested_at, ref=ref,
            data={"grant_id": str(grant.id), "tenant_id": str(grant.tenant_id),
                  "state": grant.state},
        )  # fmt: skip
        written += 1
    return written


def lock(session: Session, incident_id: uuid.UUID) -> Incident:
    return lock_row(session, Incident, Incident.id == incident_id, missing=NOT_FOUND)


def change(
    db: Database, incident_id: uuid.UUID, apply: Callable[[Session, Incident, datetime], T]
) -> T:
    """Lock the incident, read the time, bring its story up to date, then `apply`."""
    with db.transaction() as session:
        incident = lock(session, incident_id)
        # Read once the row is ours: a change that waited is written after the one before.
        now = utcnow()
        if incident.status in ACTIVE:
            note_support_grants(session, incident, now)
        result = apply(session, incident, now)
        incident.updated_at = now
        session.flush()
        return result


def catch_up(db: Database, *, limit: int = 100) -> int:
    """The periodic job: write in what happened around the open incidents."""
    with db.read() as session:
        ids = session.scalars(
            select(Incident.id).where(Incident.status.in_(ACTIVE)).limit(limit)
        ).all()
    written = 0
    for incident_id in ids:
        with db.transaction() as session:
            incident = lock(session, incident_id)
            if incident.status in ACTIVE:
                written += note_support_grants(session, incident, utcnow())
    return written


def timeline_cursor(event: IncidentEvent) -> str:
    return f"{epoch_microseconds(event.occurred_at)}_{event.id}"


def timeline_of(
    session: Session, incident_id: uuid.UUID, *, cursor: str | None, limit: int
) -> list[IncidentEvent]:
    """The story in the order things happened (ties in the order they were written), from
    after `cursor`; one entry more than `limit` is read (it only says there is more)."""
    query = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
    if cursor is not None:
        try:
            stamp, event_id = (int(part) for part in cursor.split("_", 1))
            at = from_epoch_microseconds(stamp)
        except (ValueError, OverflowError):
            raise InvalidInput("The cursor is not one this API gave out.",
                               code="invalid_cursor") from None  # fmt: skip
        query = query.where(tuple_(IncidentEvent.occurred_at, IncidentEvent.id) > (at, event_id))
    query = query.order_by(IncidentEvent.occurred_at, IncidentEvent.id).limit(limit + 1)
    return list(session.scalars(query))
