"""Incidents' one face: what routes, the CLI, the jobs, the checks and the drill may call.
The rules live behind it: `incidents` (declare; details, times, status, roles, notes,
mitigation and links), `timeline` (the story, and the one way an incident is changed),
`updates` (status updates and the public status page), `reviews` (the post-incident
review and its action items) and `views`."""

from __future__ import annotations

from darvaza.incidents.incidents import (
    IncidentRules,
    add_note,
    assign_role,
    change_details,
    declare_incident,
    link_evidence,
    link_finding,
    record_mitigation,
    set_status,
)
from darvaza.incidents.models import (
    COMPONENTS,
    EVENT_KINDS,
    INCIDENT,
    MITIGATION_KINDS,
    MITIGATION_RESULTS,
    ROLES,
    SEVERITIES,
    Severity,
)
from darvaza.incidents.reviews import (
    REQUIRED_PARTS,
    ActionItemIn,
    complete_action_item,
    overdue_action_items,
    review_incident,
)
from darvaza.incidents.timeline import catch_up
from darvaza.incidents.updates import (
    PublicIncident,
    PublicStatus,
    PublicUpdate,
    overdue_updates,
    post_update,
    public_status,
)
from darvaza.incidents.views import (
    IncidentView,
    LinkedFinding,
    TimelineView,
    active_counts,
    durations,
    get_incident,
    incident_timeline,
    list_incidents,
    recent_durations,
)

__all__ = [
    "COMPONENTS",
    "EVENT_KINDS",
    "INCIDENT",
    "MITIGATION_KINDS",
    "MITIGATION_RESULTS",
    "REQUIRED_PARTS",
    "ROLES",
    "SEVERITIES",
    "ActionItemIn",
    "IncidentRules",
    "IncidentView",
    "LinkedFinding",
    "PublicIncident",
    "PublicStatus",
    "PublicUpdate",
    "Severity",
    "TimelineView",
    "active_counts",
    "add_note",
    "assign_role",
    "catch_up",
    "change_details",
    "complete_action_item",
    "declare_incident",
    "durations",
    "get_incident",
    "incident_timeline",
    "link_evidence",
    "link_finding",
    "list_incidents",
    "overdue_action_items",
    "overdue_updates",
    "post_update",
    "public_status",
    "recent_durations",
    "record_mitigation",
    "review_incident",
    "set_status",
]
