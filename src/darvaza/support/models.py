"""Support's tables: tickets with their messages and SLA ledger, and support access grants
with their history and action log.

A ticket moves only through `TICKET`; a grant only through `GRANT`. Messages, the SLA
ledger's closed intervals, a grant's history and its action log are append-only (the
ledger's open interval is closed by setting its end once, enforced by the service): the
history of every grant is kept forever, and an internal note once written stays one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import AppendOnly, Base
from darvaza.identity.models import User  # noqa: F401 (the users table, for foreign keys)
from darvaza.states import StateMachine, table
from darvaza.tenants.models import Tenant  # noqa: F401 (the tenants table, for foreign keys)

TICKET = table(
    "ticket",
    new="open pending solved",
    open="pending solved",
    pending="open solved",
    solved="open closed",
)
# Requested, then decided or let lapse; an approved grant runs until its time is over, it
# is revoked, or its requester withdraws it. Every end is final.
GRANT = table(
    "support grant",
    requested="approved denied expired withdrawn",
    approved="ended revoked withdrawn",
)
PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("billing", "access", "content", "technical", "other")
MESSAGE_KINDS = ("reply", "note")
TIERS = (1, 2, 3)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _states_of(machine: StateMachine) -> str:
    return _one_of("state", machine.states)


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint(_states_of(TICKET), name="state_known"),
        CheckConstraint(_one_of("priority", PRIORITIES), name="priority_known"),
        CheckConstraint(_one_of("category", CATEGORIES), name="category_known"),
        CheckConstraint("tier BETWEEN 1 AND 3", name="tier_known"),
        # The support queue: open work by when its SLA falls due.
        Index("ix_support_tickets_state_due", "state", "resolution_due_at"),
        Index("ix_support_tickets_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_support_tickets_requester", "requester_id", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    # Escalation, kept apart from priority: who handles it, not how soon.
    tier: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The SLA targets of its priority when set (minutes of running clock), and each
    # target's due time while the clock runs (None while it is paused or
    # once the target is met), computed from the ledger in `support_sla_intervals`.
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    solved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class SupportMessage(AppendOnly, Base):
    """A public reply (the requester sees it) or an internal note (they never do)."""

    __tablename__ = "support_messages"
    __table_args__ = (
        CheckConstraint(_one_of("kind", MESSAGE_KINDS), name="kind_known"),
        Index("ix_support_messages_ticket", "ticket_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # The role the author wrote in (customer, owner, support_admin, ...).
    author_role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SupportSlaInterval(Base):
    """One stretch of time the ticket's SLA clock ran: opened when the clock starts or
    resumes, ended when it pauses (waiting on the requester) or stops (solved)."""

    __tablename__ = "support_sla_intervals"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ordered"),
        Index("ix_support_sla_intervals_ticket", "ticket_id", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE")
    )
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class SupportGrant(Base):
    __tablename__ = "support_grants"
    __table_args__ = (
        CheckConstraint(_states_of(GRANT), name="state_known"),
        CheckConstraint("access IN ('read', 'write')", name="access_known"),
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        # The policy's question on every request: this person's approved grants here.
        Index("ix_support_grants_requester_tenant", "requester_id", "tenant_id", "state"),
        Index("ix_support_grants_tenant_requested", "tenant_id", "requested_at"),
        Index("ix_support_grants_state", "state", "requested_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_tickets.id"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    data_classes: Mapped[list[str]]
    access: Mapped[str] = mapped_column(String(8))
    # The write actions named (empty for a read grant).
    actions: Mapped[list[str]]
    duration_minutes: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime]
    # An undecided request lapses then.
    decide_by: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # The clock starts at approval: `ends_at` is approval plus the duration.
    approved_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Approved by a platform admin alone; reviewed afterwards by another person.
    break_glass: Mapped[bool] = mapped_column(default=False)
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime]


class SupportGrantEvent(AppendOnly, Base):
    """A grant's history, one line per change: never changed, never deleted."""

    __tablename__ = "support_grant_events"
    __table_args__ = (Index("ix_support_grant_events_grant", "grant_id", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_grants.id"))
    occurred_at: Mapped[datetime]
    # What happened: requested, approved, denied, expired, withdrawn, ended, revoked,
    # break_glass, reviewed.
    event: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)


class SupportGrantAction(AppendOnly, Base):
    """One request a support admin made under a grant, with the answer it got."""

    __tablename__ = "support_grant_actions"
    __table_args__ = (
        Index("ix_support_grant_actions_grant", "grant_id", "occurred_at"),
        Index("ix_support_grant_actions_tenant", "tenant_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_grants.id"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    occurred_at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200))
    # The path's ids (the tenant's slug left out): what was read or changed.
    object_ids: Mapped[dict[str, Any]]
    status: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64))
