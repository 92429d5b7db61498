"""Shapes of the incidents API and of the public status."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from darvaza.incidents.service import IncidentView, PublicStatus, TimelineView, durations
from darvaza.params import EmailIn, IsoTime

# The tables' own values, written out for the contract (a test keeps them equal).
SeverityName = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
Status = Literal["open", "mitigated", "resolved", "reviewed", "cancelled"]
Component = Literal[
    "api", "console", "payments", "downloads", "worker", "mail", "backups", "database"
]  # fmt: skip
Role = Literal["commander", "communications", "scribe"]
MitigationKind = Literal["rollback", "restore", "config_change", "other"]
MitigationResult = Literal["succeeded", "partial", "failed"]
ComponentState = Literal[
    "operational", "monitoring", "degraded", "partial_outage", "major_outage"
]  # fmt: skip

Title = Field(min_length=1, max_length=200, pattern=r"\S")
Text = Field(default="", max_length=10_000)


class SeverityOut(BaseModel):
    name: SeverityName
    description: str
    major: bool = Field(description="a major incident is reviewed before it is closed")
    update_every_minutes: int = Field(description="the longest wait for the next status update")


class DeclareIn(BaseModel):
    title: str = Title
    summary: str = Text
    severity: SeverityName
    components: list[Component] = Field(default_factory=list, max_length=8)
    tenants: list[str] = Field(default_factory=list, max_length=200, description="slugs")
    all_tenants: StrictBool = False
    commander_email: EmailIn | None = Field(
        default=None, description="platform staff; the declarer if none"
    )
    started_at: IsoTime | None = Field(default=None, description="impact began (default: detected)")
    detected_at: IsoTime | None = Field(default=None, description="noticed (default: now)")
    finding_id: uuid.UUID | None = Field(default=None, description="declared from this finding")


class ChangeIn(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    summary: str | None = Field(default=None, max_length=10_000)
    severity: SeverityName | None = None
    components: list[Component] | None = Field(default=None, max_length=8)
    tenants: list[str] | None = Field(default=None, max_length=200)
    all_tenants: StrictBool | None = None
    started_at: IsoTime | None = None
    detected_at: IsoTime | None = None
    reason: str | None = Field(default=None, max_length=2_000)


class StatusIn(BaseModel):
    status: Literal["open", "mitigated", "resolved", "cancelled"]
    at: IsoTime | None = Field(default=None, description="when it happened (default: now)")
    reason: str | None = Field(default=None, max_length=2_000)


class RoleIn(BaseModel):
    email: EmailIn | None = Field(description="platform staff; null leaves the role empty")


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


class UpdateIn(BaseModel):
    body: str = Field(min_length=1, max_length=5_000, pattern=r"\S")
    public: StrictBool = Field(
        default=False, description="published on the status page and mailed to owners"
    )


class MitigationIn(BaseModel):
    kind: MitigationKind
    description: str = Field(min_length=1, max_length=10_000, pattern=r"\S")
    result: MitigationResult
    evidence_id: uuid.UUID | None = Field(
        default=None, description="required for a rollback or a restore: the run's evidence"
    )
    at: IsoTime | None = None


class LinkFindingIn(BaseModel):
    finding_id: uuid.UUID


class LinkEvidenceIn(BaseModel):
    evidence_id: uuid.UUID


class ActionItemIn(BaseModel):
    title: str = Title
    owner_email: EmailIn
    due_at: IsoTime


class ReviewIn(BaseModel):
    summary: str = Text
    impact_notes: str = Text
    timeline_summary: str = Text
    root_causes: str = Text
    went_well: str = Text
    went_badly: str = Text
    action_items: list[ActionItemIn] = Field(default_factory=list, max_length=50)


class IncidentOut(BaseModel):
    id: uuid.UUID
    title: str
    severity: SeverityName
    status: Status
    components: list[Component]
    all_tenants: bool
    started_at: datetime
    detected_at: datetime
    declared_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None
    reviewed_at: datetime | None
    cancelled_at: datetime | None
    next_update_due_at: datetime | None
    published_at: datetime | None
    time_to_detect_seconds: float | None
    time_to_mitigate_seconds: float | None
    time_to_resolve_seconds: float | None

    @classmethod
    def of_row(cls, incident: Any) -> IncidentOut:
        took = durations(incident)
        return cls.model_validate(
            {
                **{name: getattr(incident, name) for name in cls.model_fields if
                   hasattr(incident, name)},
                **{f"{name}_seconds": value for name, value in took.items()},
            }
        )  # fmt: skip


class IncidentPageOut(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class UpdateOut(BaseModel):
    id: uuid.UUID
    public: bool
    body: str
    status: Status
    author: str | None
    posted_at: datetime
    next_update_due_at: datetime | None


class MitigationOut(BaseModel):
    id: uuid.UUID
    kind: MitigationKind
    description: str
    result: MitigationResult
    evidence_id: uuid.UUID | None
    performed_by: str | None
    performed_at: datetime


class FindingOut(BaseModel):
    id: uuid.UUID
    code: str
    title: str
    severity: str
    state: str
    tenant: str | None


class ActionItemOut(BaseModel):
    id: uuid.UUID
    title: str
    owner: str | None
    due_at: datetime
    done_at: datetime | None
    done_by: str | None


class ReviewOut(BaseModel):
    summary: str
    impact: dict[str, Any] = Field(description="measured from the data for the impact window")
    impact_notes: str
    timeline_summary: str
    root_causes: str
    went_well: str
    went_badly: str
    written_by: str | None
    written_at: datetime


class IncidentDetailOut(IncidentOut):
    summary: str
    tenants: list[str] = Field(description="the affected tenants' slugs (none when all)")
    suggested_tenants: list[str] = Field(description="tenants of linked findings not named yet")
    commander: str | None
    communications: str | None
    scribe: str | None
    declared_by: str | None
    allowed_statuses: list[Status] = Field(description="where the status may move next")
    updates: list[UpdateOut]
    mitigations: list[MitigationOut]
    findings: list[FindingOut]
    review: ReviewOut | None
    action_items: list[ActionItemOut]

    @classmethod
    def of(cls, view: IncidentView) -> IncidentDetailOut:
        i, email = view.incident, view.email
        base = IncidentOut.of_row(i).model_dump()
        slugs = view.tenant_slugs
        return cls(
            **base, summary=i.summary,
            tenants=view.named_tenants,
            suggested_tenants=view.suggested_tenants, commander=email(i.commander_id),
            communications=email(i.communications_id), scribe=email(i.scribe_id),
            declared_by=email(i.declared_by), allowed_statuses=view.allowed,
            updates=[UpdateOut(id=u.id, public=u.public, body=u.body, status=u.status,
                               author=email(u.author_id), posted_at=u.posted_at,
                               next_update_due_at=u.next_update_due_at) for u in view.updates],
            mitigations=[MitigationOut(id=a.id, kind=a.kind, description=a.description,
                                       result=a.result, evidence_id=a.evidence_id,
                                       performed_by=email(a.performed_by),
                                       performed_at=a.performed_at) for a in view.actions],
            findings=[FindingOut(id=f.id, code=f.code, title=f.title, severity=f.severity,
                                 state=f.state, tenant=slugs.get(f.tenant_id) if f.tenant_id
                                 else None) for f in view.findings],
            review=ReviewOut(**{n: getattr(view.review, n) for n in ReviewOut.model_fields
                                if n != "written_by"}, written_by=email(view.review.written_by))
            if view.review else None,
            action_items=[ActionItemOut(id=a.id, title=a.title, owner=email(a.owner_id),
                                        due_at=a.due_at, done_at=a.done_at,
                                        done_by=email(a.done_by)) for a in view.action_items],
        )  # fmt: skip


class TimelineEventOut(BaseModel):
    id: int
    occurred_at: datetime
    kind: str
    actor: str | None = Field(description="the person's email, or the component")
    actor_role: str | None
    text: str
    data: dict[str, Any]


class TimelineOut(BaseModel):
    items: list[TimelineEventOut]
    next_cursor: str | None

    @classmethod
    def of(cls, view: TimelineView) -> TimelineOut:
        return cls(
            items=[
                TimelineEventOut(
                    id=e.id, occurred_at=e.occurred_at, kind=e.kind,
                    actor=view.people.get(e.actor_id) if e.actor_id else None,
                    actor_role=e.actor_role, text=e.text, data=e.data,
                )
                for e in view.events
            ],
            next_cursor=view.next_cursor,
        )  # fmt: skip


class PublicUpdateOut(BaseModel):
    posted_at: datetime
    status: Status
    body: str


class PublicIncidentOut(BaseModel):
    id: uuid.UUID
    title: str
    severity: SeverityName
    major: bool
    status: Status
    components: list[Component]
    started_at: datetime
    published_at: datetime
    resolved_at: datetime | None
    updates: list[PublicUpdateOut]


class PublicStatusOut(BaseModel):
    generated_at: datetime
    overall: ComponentState
    components: dict[Component, ComponentState]
    current: list[PublicIncidentOut]
    recent: list[PublicIncidentOut]

    @classmethod
    def of(cls, status: PublicStatus) -> PublicStatusOut:
        return cls.model_validate(status, from_attributes=True)
