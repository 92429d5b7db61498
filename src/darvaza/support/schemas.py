"""Shapes of the support API: tickets, their messages, and support access grants."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from darvaza.params import EmailIn
from darvaza.security.grants import DATA_CLASSES, WRITE_ACTIONS
from darvaza.support.service import GrantView, TicketView

Priority = Literal["low", "normal", "high", "urgent"]
Category = Literal["billing", "access", "content", "technical", "other"]
TicketState = Literal["new", "open", "pending", "solved", "closed"]
GrantState = Literal["requested", "approved", "denied", "expired", "withdrawn", "ended", "revoked"]
DataClass = Literal["payments", "subscriptions", "content", "members", "downloads", "tickets"]
GrantAction = Literal[
    "subscriptions.create_plan", "subscriptions.update_plan", "content.create",
    "content.upload", "content.update", "content.publish", "content.archive",
    "downloads.revoke_tokens", "tickets.reply", "tickets.triage",
]  # fmt: skip
# These literals are the tables' own values, written out for the contract (a test keeps
# them equal).

Body = Field(min_length=1, max_length=20_000, pattern=r"\S")
Reason = Field(default=None, max_length=2_000)


def _seconds(left: timedelta | None) -> int | None:
    return None if left is None else int(left.total_seconds())


class TicketIn(BaseModel):
    subject: str = Field(min_length=1, max_length=200, pattern=r"\S")
    body: str = Body
    category: Category = "other"
    priority: Priority = "normal"


class ReplyIn(BaseModel):
    body: str = Body


class MessageIn(ReplyIn):
    internal: StrictBool = Field(
        default=False, description="An internal note: never shown to the ticket's requester"
    )


# A console form's checkbox: sent as "true" when ticked, absent when not.
Ticked = Literal["true"] | None


class MessageFormIn(ReplyIn):
    internal: Ticked = Field(default=None, description="an internal note when ticked")


class TriageIn(BaseModel):
    state: Literal["open", "pending", "solved", "closed"] | None = None
    priority: Priority | None = None
    tier: int | None = Field(default=None, ge=1, le=3, description="escalation tier")
    assignee_email: EmailIn | None = None
    unassign: StrictBool = False
    reason: str | None = Reason


class SlaOut(BaseModel):
    running: bool = Field(description="false while the ticket waits on its requester or is solved")
    first_response_due_at: datetime | None
    first_response_left_seconds: int | None
    resolution_due_at: datetime | None
    resolution_left_seconds: int | None
    breached: bool


class MessageOut(BaseModel):
    id: uuid.UUID
    kind: Literal["reply", "note"]
    author: str
    author_role: str
    body: str
    created_at: datetime


class TicketOut(BaseModel):
    id: uuid.UUID
    tenant: str
    subject: str
    category: Category
    priority: Priority
    tier: int
    state: TicketState
    requester: str
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, view: TicketView) -> TicketOut:
        t = view.ticket
        return cls(
            id=t.id, tenant=view.tenant_slug, subject=t.subject, category=t.category,
            priority=t.priority, tier=t.tier, state=t.state,
            requester=view.people.get(t.requester_id, ""),
            assignee=view.people.get(t.assignee_id) if t.assignee_id else None,
            created_at=t.created_at, updated_at=t.updated_at,
            first_response_due_at=t.first_response_due_at, resolution_due_at=t.resolution_due_at,
            first_response_at=t.first_response_at, solved_at=t.solved_at, closed_at=t.closed_at,
        )  # fmt: skip


class TicketDetailOut(TicketOut):
    messages: list[MessageOut]
    sla: SlaOut

    @classmethod
    def of(cls, view: TicketView) -> TicketDetailOut:
        sla = view.sla
        if sla is None:
            raise ValueError("a ticket looked at alone has its SLA clock")
        return cls(
            **TicketOut.of(view).model_dump(),
            messages=[
                MessageOut(id=m.id, kind=m.kind, author=view.people.get(m.author_id, ""),
                           author_role=m.author_role, body=m.body, created_at=m.created_at)
                for m in view.messages
            ],
            sla=SlaOut(
                running=sla.running, first_response_due_at=sla.first_response_due_at,
                first_response_left_seconds=_seconds(sla.first_response_left),
                resolution_due_at=sla.resolution_due_at,
                resolution_left_seconds=_seconds(sla.resolution_left), breached=sla.breached,
            ),
        )  # fmt: skip


class TicketPageOut(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")


class GrantIn(BaseModel):
    tenant: str = Field(min_length=1, max_length=63, description="the tenant's slug")
    ticket_id: uuid.UUID = Field(description="a ticket of that tenant")
    reason: str = Field(min_length=1, max_length=2_000, pattern=r"\S")
    data_classes: list[DataClass] = Field(min_length=1, max_length=len(DATA_CLASSES))
    access: Literal["read", "write"] = "read"
    actions: list[GrantAction] = Field(
        default_factory=list, max_length=len(WRITE_ACTIONS),
        description="for write access: the actions allowed",
    )  # fmt: skip
    duration_minutes: int | None = Field(
        default=None, ge=1, le=7 * 24 * 60,
        description="from approval; default and maximum are settings",
    )  # fmt: skip


class DecisionIn(BaseModel):
    reason: str | None = Reason
    break_glass: StrictBool = Field(
        default=False,
        description="a platform admin approving alone: at most an hour, reviewed afterwards",
    )


class TriageFormIn(BaseModel):
    """Triage from a ticket's page (assigning, not unassigning)."""

    state: Literal["open", "pending", "solved", "closed"] | None = None
    priority: Priority | None = None
    tier: int | None = Field(default=None, ge=1, le=3, description="escalation tier")
    assignee_email: EmailIn | None = None
    reason: str | None = Reason


class DecisionFormIn(BaseModel):
    reason: str | None = Reason
    break_glass: Ticked = Field(default=None, description="a platform admin approving alone")


class ReasonIn(BaseModel):
    reason: str | None = Reason


class ReviewIn(BaseModel):
    note: str = Field(min_length=1, max_length=2_000, pattern=r"\S")


class GrantEventOut(BaseModel):
    event: str
    from_state: str | None
    to_state: str
    actor: str | None
    actor_role: str | None
    reason: str | None
    occurred_at: datetime


class GrantOut(BaseModel):
    id: uuid.UUID
    tenant: str
    ticket_id: uuid.UUID
    ticket_subject: str
    requester: str
    reason: str
    data_classes: list[str]
    access: Literal["read", "write"]
    actions: list[str]
    duration_minutes: int
    state: GrantState
    requested_at: datetime
    decide_by: datetime
    decided_at: datetime | None
    decided_by: str | None
    approved_at: datetime | None
    ends_at: datetime | None
    ended_at: datetime | None
    break_glass: bool
    reviewed_at: datetime | None
    reviewed_by: str | None

    @classmethod
    def of(cls, view: GrantView) -> GrantOut:
        g, people = view.grant, view.people
        return cls(
            id=g.id, tenant=view.tenant_slug, ticket_id=g.ticket_id,
            ticket_subject=view.ticket_subject, requester=people.get(g.requester_id, ""),
            reason=g.reason, data_classes=g.data_classes, access=g.access,
            actions=g.actions, duration_minutes=g.duration_minutes, state=g.state,
            requested_at=g.requested_at, decide_by=g.decide_by, decided_at=g.decided_at,
            decided_by=people.get(g.decided_by) if g.decided_by else None,
            approved_at=g.approved_at, ends_at=g.ends_at, ended_at=g.ended_at,
            break_glass=g.break_glass, reviewed_at=g.reviewed_at,
            reviewed_by=people.get(g.reviewed_by) if g.reviewed_by else None,
        )  # fmt: skip


class GrantDetailOut(GrantOut):
    history: list[GrantEventOut]

    @classmethod
    def of(cls, view: GrantView) -> GrantDetailOut:
        return cls(
            **GrantOut.of(view).model_dump(),
            history=[
                GrantEventOut(
                    event=e.event, from_state=e.from_state, to_state=e.to_state,
                    actor=view.people.get(e.actor_id) if e.actor_id else None,
                    actor_role=e.actor_role, reason=e.reason, occurred_at=e.occurred_at,
                )
                for e in view.events
            ],
        )  # fmt: skip


class GrantPageOut(BaseModel):
    items: list[GrantOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")


class GrantActionOut(BaseModel):
    id: uuid.UUID
    grant_id: uuid.UUID
    occurred_at: datetime
    method: str
    route: str
    object_ids: dict[str, str]
    status: int
    request_id: str | None


class GrantActionPageOut(BaseModel):
    items: list[GrantActionOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")
