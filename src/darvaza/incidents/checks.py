"""Incidents' ops checks: an incident whose next status update is overdue, and a review's
action item left open past its due date."""

from __future__ import annotations

from datetime import timedelta

from darvaza.checks import Check, CheckContext, Observation, Subject
from darvaza.errors import N_
from darvaza.incidents.service import overdue_action_items, overdue_updates

LIMIT = 200


def update_overdue(context: CheckContext) -> list[Observation]:
    with context.parts.db.read() as session:
        return [
            Observation(
                Subject("incident", str(i.id)),
                {
                    "title": i.title,
                    "severity": i.severity,
                    "status": i.status,
                    "next_update_due_at": i.next_update_due_at.isoformat()
                    if i.next_update_due_at
                    else None,
                },
            )
            for i in overdue_updates(session, context.now, limit=LIMIT)
        ]


def action_item_overdue(context: CheckContext) -> list[Observation]:
    with context.parts.db.read() as session:
        return [
            Observation(
                Subject("incident_action_item", str(item.id)),
                {
                    "incident_id": str(item.incident_id),
                    "title": item.title,
                    "due_at": item.due_at.isoformat(),
                },
            )
            for item in overdue_action_items(session, context.now, limit=LIMIT)
        ]


CHECKS = (
    Check(
        "incidents.update_overdue",
        "high",
        N_("Incidents whose next status update is overdue"),
        timedelta(minutes=1),
        update_overdue,
    ),
    Check(
        "incidents.action_item_overdue",
        "medium",
        N_("Post-incident action items past their due date"),
        timedelta(hours=1),
        action_item_overdue,
    ),
)
