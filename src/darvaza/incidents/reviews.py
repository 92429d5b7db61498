"""The post-incident review: blameless, written once the incident is resolved; with it the
incident becomes `reviewed`. A major incident's review must have every part (422 names the
first one missing) and at least one action item; an action item has an owner and a due
date, and one left open past its date is a finding.

The impact is measured from the data where it can be: the tenants affected, and the
payments opened and downloads attempted between the impact's start and its end, for those
tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.billing import service as billing
from darvaza.content import service as content
from darvaza.db import Database, lock_row
from darvaza.errors import Conflict, InvalidInput, NotFound
from darvaza.incidents.incidents import IncidentRules, move_status, staff_member
from darvaza.incidents.models import SEVERITIES, Incident, IncidentActionItem, IncidentReview
from darvaza.incidents.timeline import change, record, text, user_of
from darvaza.security.caller import Actor

# A major incident's review names each of these.
REQUIRED_PARTS = ("summary", "impact_notes", "timeline_summary", "root_causes", "went_well",
                  "went_badly")  # fmt: skip
# Payments that did not go through.
UNPAID = ("failed", "expired", "mismatch", "cancelled")


@dataclass(frozen=True)
class ActionItemIn:
    title: str
    owner_email: str
    due_at: datetime


def measure_impact(session: Session, incident: Incident, now: datetime) -> dict[str, Any]:
    """What the data says about the impact window, for the affected tenants."""
    since, until = incident.started_at, incident.resolved_at or now
    tenant_ids = None if incident.all_tenants else [uuid.UUID(t) for t in incident.tenant_ids]
    payments = billing.payment_states_between(session, tenant_ids, since, until)
    downloads = content.download_outcomes_between(session, tenant_ids, since, until)
    return {
        "window": {"from": since.isoformat(), "until": until.isoformat()},
        "tenants": "all" if incident.all_tenants else len(incident.tenant_ids),
        "payments": {"total": sum(payments.values()),
                     "not_paid": sum(payments.get(state, 0) for state in UNPAID),
                     "by_state": payments},
        "downloads": {"total": sum(downloads.values()),
                      "delivered": downloads.get("delivered", 0), "by_outcome": downloads},
    }  # fmt: skip


def _incomplete(message: str, part: str) -> NoReturn:
    """422 `review_incomplete`, naming the missing part as the body's field."""
    detail = {"field": f"body.{part}", "message": message, "type": "missing"}
    raise InvalidInput(message, code="review_incomplete", details=[detail])


def review_incident(
    db: Database, actor: Actor, rules: IncidentRules, incident_id: uuid.UUID, *,
    parts: Mapping[str, str | None], action_items: Sequence[ActionItemIn] = (),
) -> None:  # fmt: skip
    """Write the review of a resolved incident, and mark it reviewed."""
    cleaned = {name: text(parts.get(name), name, required=False) for name in REQUIRED_PARTS}

    def apply(session: Session, incident: Incident, now: datetime) -> None:
        if incident.status != "resolved":
            allowed = "; it is reviewed once resolved" if incident.status != "reviewed" else ""
            raise Conflict(f"A {incident.status} incident cannot be reviewed{allowed}.",
                           code="invalid_transition")  # fmt: skip
        if SEVERITIES[incident.severity].major:
            for name in REQUIRED_PARTS:
                if not cleaned[name]:
                    _incomplete(f"A {incident.severity} review needs its "
                                f"{name.replace('_', ' ')}.", name)  # fmt: skip
            if not action_items:
                _incomplete(f"A {incident.severity} review names at least one action item.",
                            "action_items")  # fmt: skip
        elif not cleaned["summary"]:
            _incomplete("A review needs its summary.", "summary")
        session.add(
            IncidentReview(
                incident_id=incident.id, impact=measure_impact(session, incident, now),
                written_by=user_of(actor), written_at=now, **cleaned,
            )
        )  # fmt: skip
        for item in action_items:
            title = text(item.title, "action_item", limit=200)
            if item.due_at <= now:
                raise InvalidInput("An action item is due in the future.", code="invalid_due_at")
            owner = staff_member(session, item.owner_email, "action item's owner")
            session.add(IncidentActionItem(incident_id=incident.id, title=title, owner_id=owner,
                                           due_at=item.due_at, created_at=now))  # fmt: skip
        move_status(session, incident, "reviewed", actor, rules, now)
        record(session, incident, "review",
               f"Reviewed: {cleaned['summary'] or 'no summary'} "
               f"({len(action_items)} action items)", actor, now,
               data={"action_items": len(action_items)})  # fmt: skip

    change(db, incident_id, apply)


def complete_action_item(db: Database, actor: Actor, incident_id: uuid.UUID,
                         item_id: uuid.UUID) -> None:  # fmt: skip
    """Mark an action item done (once)."""

    def apply(session: Session, incident: Incident, now: datetime) -> None:
        item = lock_row(
            session, IncidentActionItem, IncidentActionItem.id == item_id,
            IncidentActionItem.incident_id == incident.id,
            missing=NotFound("This incident has no such action item."),
        )  # fmt: skip
        if item.done_at is not None:
            raise Conflict("This action item is done already.", code="already_done")
        item.done_at, item.done_by = now, user_of(actor)
        record(session, incident, "action_item", f"Action item done: {item.title}", actor, now,
               data={"action_item_id": str(item.id)})  # fmt: skip

    change(db, incident_id, apply)


def overdue_action_items(
    session: Session, now: datetime, *, limit: int
) -> Sequence[IncidentActionItem]:
    return session.scalars(
        select(IncidentActionItem)
        .where(IncidentActionItem.done_at.is_(None), IncidentActionItem.due_at < now)
        .order_by(IncidentActionItem.due_at)
        .limit(limit)
    ).all()
