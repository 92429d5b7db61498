"""The incidents API (platform admins do everything; support admins declare and write
notes; auditors read) and the public status (anyone)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from darvaza.errors import refuses
from darvaza.http import PartsDep
from darvaza.incidents import service
from darvaza.incidents.schemas import (
    ChangeIn,
    DeclareIn,
    IncidentDetailOut,
    IncidentOut,
    IncidentPageOut,
    LinkEvidenceIn,
    LinkFindingIn,
    MitigationIn,
    NoteIn,
    PublicStatusOut,
    ReviewIn,
    Role,
    RoleIn,
    SeverityName,
    SeverityOut,
    Status,
    StatusIn,
    TimelineOut,
    UpdateIn,
)
from darvaza.params import PageLimit, TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import (
    OPS_READER,
    PLATFORM_ADMIN,
    PUBLIC,
    TENANT_DIRECTORY,
    Access,
    Requires,
)

router = APIRouter(prefix="/api/v1/admin/incidents", tags=["incidents"])
severities_router = APIRouter(prefix="/api/v1/admin/incident-severities", tags=["incidents"])
public_router = APIRouter(tags=["status"])
routers = (router, severities_router, public_router)

READ = [Requires(OPS_READER)]
Responder = Annotated[Access, Requires(TENANT_DIRECTORY)]
Admin = Annotated[Access, Requires(PLATFORM_ADMIN)]

NOT_FOUND = "No incident has this id."
STATE = "The incident's status does not allow this; a transition names the allowed ones."
TIMELINE_CURSOR = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,17}_[0-9]{1,18}$", description="`next_cursor` of the page before"),
]


def _rules(parts: Parts) -> service.IncidentRules:
    return service.IncidentRules.from_settings(parts.settings)


def _detail(parts: Parts, incident_id: uuid.UUID) -> IncidentDetailOut:
    return IncidentDetailOut.of(service.get_incident(parts.db, incident_id))


@router.get("", response_model=IncidentPageOut, dependencies=READ)
def list_incidents(
    parts: PartsDep,
    status: Annotated[list[Status], Query(max_length=5, description="only these")] = [],  # noqa: B006
    severity: Annotated[list[SeverityName], Query(max_length=4, description="only these")] = [],  # noqa: B006
    limit: PageLimit = 50,
    cursor: TimeCursor = None,
) -> IncidentPageOut:
    """Incidents, the most recently declared first."""
    page = service.list_incidents(
        parts.db, statuses=status, severities=severity, cursor=cursor, limit=limit
    )
    return IncidentPageOut(
        items=[IncidentOut.of_row(i) for i in page.items], next_cursor=page.next_cursor
    )


@severities_router.get("", response_model=list[SeverityOut], dependencies=READ)
def severities(parts: PartsDep) -> list[SeverityOut]:
    """The severities, most severe first, with how often each must be updated."""
    cadence = _rules(parts).cadence
    return [
        SeverityOut(
            name=s.name,
            description=s.description,
            major=s.major,
            update_every_minutes=int(cadence[s.name].total_seconds() // 60),
        )
        for s in service.SEVERITIES.values()
    ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentDetailOut,
    responses=refuses(_409="The finding belongs to another incident already."),
)
def declare(body: DeclareIn, access: Responder, parts: PartsDep) -> IncidentDetailOut:
    """Declare an incident (from a finding, if one is named)."""
    incident_id = service.declare_incident(
        parts.db,
        access.user.actor(),
        _rules(parts),
        title=body.title,
        summary=body.summary,
        severity=body.severity,
        commander_email=body.commander_email,
        components=body.components,
        tenant_slugs=body.tenants,
        all_tenants=body.all_tenants,
        started_at=body.started_at,
        detected_at=body.detected_at,
        finding_id=body.finding_id,
    )
    return _detail(parts, incident_id)


@router.get(
    "/{incident_id}",
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND),
    dependencies=READ,
)
def incident(incident_id: uuid.UUID, parts: PartsDep) -> IncidentDetailOut:
    """An incident with its people, updates, mitigation steps, findings and review."""
    return _detail(parts, incident_id)


@router.get(
    "/{incident_id}/timeline",
    response_model=TimelineOut,
    responses=refuses(_404=NOT_FOUND),
    dependencies=READ,
)
def timeline(
    incident_id: uuid.UUID,
    parts: PartsDep,
    limit: PageLimit = 200,
    cursor: TIMELINE_CURSOR = None,
) -> TimelineOut:
    """The incident's story, oldest first."""
    view = service.incident_timeline(parts.db, incident_id, cursor=cursor, limit=limit)
    return TimelineOut.of(view)


@router.patch(
    "/{incident_id}",
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409=STATE),
)
def change(
    incident_id: uuid.UUID, body: ChangeIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """Change the title, summary, severity, components, tenants or the impact's times."""
    service.change_details(
        parts.db,
        access.user.actor(),
        _rules(parts),
        incident_id,
        title=body.title,
        summary=body.summary,
        severity=body.severity,
        components=body.components,
        tenant_slugs=body.tenants,
        all_tenants=body.all_tenants,
        started_at=body.started_at,
        detected_at=body.detected_at,
        reason=body.reason,
    )
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/status",
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409=STATE),
)
def move(
    incident_id: uuid.UUID, body: StatusIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """Mitigated, resolved, open again, or cancelled (declared by mistake)."""
    service.set_status(
        parts.db,
        access.user.actor(),
        _rules(parts),
        incident_id,
        body.status,
        at=body.at,
        reason=body.reason,
    )
    return _detail(parts, incident_id)


@router.put(
    "/{incident_id}/roles/{role}",
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND),
)
def assign(
    incident_id: uuid.UUID, role: Role, body: RoleIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """Hand the commander's, communications lead's or scribe's role to a staff member."""
    service.assign_role(parts.db, access.user.actor(), incident_id, role, body.email)
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND),
)
def note(
    incident_id: uuid.UUID, body: NoteIn, access: Responder, parts: PartsDep
) -> IncidentDetailOut:
    """A staff note in the timeline (never published)."""
    service.add_note(parts.db, access.user.actor(), incident_id, body.body)
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/updates",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409="A cancelled incident publishes nothing."),
)
def update(
    incident_id: uuid.UUID, body: UpdateIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """A status update, internal or public; it sets when the next one is due."""
    service.post_update(
        parts.db,
        access.user.actor(),
        _rules(parts),
        incident_id,
        body=body.body,
        public=body.public,
    )
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/mitigations",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409=STATE),
)
def mitigate(
    incident_id: uuid.UUID, body: MitigationIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """A mitigation step as it was run (a rollback or restore names its evidence)."""
    service.record_mitigation(
        parts.db,
        access.user.actor(),
        incident_id,
        kind=body.kind,
        description=body.description,
        result=body.result,
        evidence_id=body.evidence_id,
        at=body.at,
    )
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/findings",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409="Linked already, here or elsewhere."),
)
def link_finding(
    incident_id: uuid.UUID, body: LinkFindingIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """Link a finding: it names the incident, and suggests its tenant."""
    service.link_finding(parts.db, access.user.actor(), incident_id, body.finding_id)
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409="Linked already."),
)
def link_evidence(
    incident_id: uuid.UUID, body: LinkEvidenceIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """Link a run's evidence (a drill, a restore, a smoke run) to the timeline."""
    service.link_evidence(parts.db, access.user.actor(), incident_id, body.evidence_id)
    return _detail(parts, incident_id)


@router.put(
    "/{incident_id}/review",
    response_model=IncidentDetailOut,
    responses=refuses(_404=NOT_FOUND, _409=STATE),
)
def review(
    incident_id: uuid.UUID, body: ReviewIn, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    """The post-incident review of a resolved incident; it becomes reviewed. A SEV1 or SEV2
    review needs every part and an action item (422 names what is missing)."""
    items = [service.ActionItemIn(i.title, i.owner_email, i.due_at) for i in body.action_items]
    parts_in = body.model_dump(exclude={"action_items"})
    service.review_incident(
        parts.db,
        access.user.actor(),
        _rules(parts),
        incident_id,
        parts=parts_in,
        action_items=items,
    )
    return _detail(parts, incident_id)


@router.post(
    "/{incident_id}/action-items/{item_id}/done",
    response_model=IncidentDetailOut,
    responses=refuses(_404="No such incident or action item.", _409="Done already."),
)
def action_item_done(
    incident_id: uuid.UUID, item_id: uuid.UUID, access: Admin, parts: PartsDep
) -> IncidentDetailOut:
    service.complete_action_item(parts.db, access.user.actor(), incident_id, item_id)
    return _detail(parts, incident_id)


@public_router.get(
    "/api/v1/status", response_model=PublicStatusOut, dependencies=[Requires(PUBLIC)]
)
def public_status(parts: PartsDep) -> PublicStatusOut:
    """The platform's public status: each component's state, and the current and recent
    incidents with their public updates only."""
    days = parts.settings.status_page_days
    return PublicStatusOut.of(service.public_status(parts.db, days=days))
