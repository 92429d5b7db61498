"""Support tickets: opened by a tenant's customers and staff, worked by support staff and
the tenant's own staff, with an SLA clock that stands still while the requester is asked.

Who sees what is decided here, once, by the `Desk` a ticket is looked at from: its
requester's own list, the tenant's staff, or the support desk. An internal note is never
shown to a ticket's requester, whichever desk they look from.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.config import SlaTarget
from darvaza.db import Database, lock_row
from darvaza.errors import Conflict, Forbidden, InvalidInput, NotFound
from darvaza.identity import service as identity
from darvaza.paging import Page, newest_first, page_of, time_cursor
from darvaza.security.caller import Actor, Caller
from darvaza.security.roles import PlatformRole
from darvaza.support.grants import end_grants_of_ticket
from darvaza.support.models import (
    CATEGORIES,
    PRIORITIES,
    TICKET,
    TIERS,
    SupportMessage,
    SupportSlaInterval,
    SupportTicket,
)
from darvaza.support.sla import RUNNING_STATES, Interval, due_at, time_left
from darvaza.tenants import service as tenants

# The platform's people who work tickets (auditors read the audit log instead).
SUPPORT_DESK_ROLES = frozenset({PlatformRole.PLATFORM_ADMIN, PlatformRole.SUPPORT_ADMIN})
# Tickets someone still has to act on.
OPEN_STATES = ("new", "open", "pending", "solved")
NOT_FOUND = "No ticket has this id here."
MAX_BODY = 20_000


@dataclass(frozen=True)
class Desk:
    """Where a ticket is looked at from. A `requester` desk shows a person's own tickets
    (public replies only); a `tenant` desk one tenant's tickets to its staff; the
    `support` desk every tenant's."""

    kind: Literal["requester", "tenant", "support"]
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None = None

    @property
    def is_agent(self) -> bool:
        return self.kind != "requester"

    def sees_notes(self, ticket: SupportTicket) -> bool:
        return self.is_agent and ticket.requester_id != self.user_id


@dataclass(frozen=True)
class SlaClock:
    """A ticket's SLA as of now: each target's due time (None while the clock stands or
    once met) and what is left of it."""

    running: bool
    first_response_due_at: datetime | None
    first_response_left: timedelta | None
    resolution_due_at: datetime | None
    resolution_left: timedelta | None
    breached: bool


@dataclass(frozen=True)
class TicketView:
    """A ticket with what shows it to people: its tenant's slug, the addresses of those
    named; and, looked at alone, its messages (as the desk may see them) and SLA clock."""

    ticket: SupportTicket
    tenant_slug: str
    people: dict[uuid.UUID, str]
    messages: list[SupportMessage]
    sla: SlaClock | None


def _check_text(value: str, what: str, *, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"A ticket needs a {what}.", code=f"invalid_{what}")
    if len(value) > limit:
        raise InvalidInput(f"The {what} is longer than {limit} characters.", code=f"invalid_{what}")
    return value


def _check_choice(value: str, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise InvalidInput(f"The {what} is one of {', '.join(choices)}.", code=f"invalid_{what}")
    return value


def _ledger(session: Session, ticket_id: uuid.UUID) -> list[Interval]:
    rows = session.scalars(
        select(SupportSlaInterval)
        .where(SupportSlaInterval.ticket_id == ticket_id)
        .order_by(SupportSlaInterval.started_at)
    ).all()
    return [Interval(row.started_at, row.ended_at) for row in rows]


def _run_clock(session: Session, ticket: SupportTicket, now: datetime) -> None:
    """Start or stop the clock to match the ticket's state, then set its due times."""
    running = session.scalars(
        select(SupportSlaInterval).where(
            SupportSlaInterval.ticket_id == ticket.id, SupportSlaInterval.ended_at.is_(None)
        )
    ).one_or_none()
    if ticket.state in RUNNING_STATES and running is None:
        session.add(SupportSlaInterval(ticket_id=ticket.id, started_at=now))
    elif ticket.state not in RUNNING_STATES and running is not None:
        running.ended_at = now
    session.flush()
    _set_due_times(session, ticket)


def _set_targets(ticket: SupportTicket, targets: Mapping[str, SlaTarget]) -> None:
    """The targets of the ticket's priority, as the settings say now: kept on the ticket,
    so changing the settings later never moves a promise already made."""
    target = targets[ticket.priority]
    ticket.first_response_minutes = int(target.first_response.total_seconds() // 60)
    ticket.resolution_minutes = int(target.resolution.total_seconds() // 60)


def _targets_of(ticket: SupportTicket) -> tuple[timedelta, timedelta]:
    return (
        timedelta(minutes=ticket.first_response_minutes),
        timedelta(minutes=ticket.resolution_minutes),
    )


def _set_due_times(session: Session, ticket: SupportTicket) -> None:
    ledger = _ledger(session, ticket.id)
    first_response, resolution = _targets_of(ticket)
    ticket.first_response_due_at = (
        None if ticket.first_response_at is not None else due_at(ledger, first_response)
    )
    ticket.resolution_due_at = due_at(ledger, resolution)


def sla_clock(session: Session, ticket: SupportTicket, now: datetime) -> SlaClock:
    ledger = _ledger(session, ticket.id)
    first_response, resolution = _targets_of(ticket)
    first_left = (
        None if ticket.first_response_at is not None else time_left(ledger, first_response, now)
    )
    resolution_left = (
        None if ticket.state in ("solved", "closed") else time_left(ledger, resolution, now)
    )
    breached = any(
        left is not None and left < timedelta() for left in (first_left, resolution_left)
    )
    return SlaClock(
        running=ticket.state in RUNNING_STATES,
        first_response_due_at=ticket.first_response_due_at,
        first_response_left=first_left,
        resolution_due_at=ticket.resolution_due_at,
        resolution_left=resolution_left,
        breached=breached,
    )


def _move(session: Session, ticket: SupportTicket, target: str, actor: Actor, now: datetime,
          *, why: str) -> None:  # fmt: skip
    source = TICKET.move(ticket, target)
    if target == "solved":
        ticket.solved_at = now
    elif source == "solved":
        ticket.solved_at = None
    if target == "closed":
        ticket.closed_at = now
        end_grants_of_ticket(session, ticket.id, now)
    ticket.updated_at = now
    _run_clock(session, ticket, now)
    append_event(
        session, action="ticket.state_changed", actor=actor, tenant_id=ticket.tenant_id,
        target_type="ticket", target_id=ticket.id, reason=why,
        data={"from": source, "to": target},
    )  # fmt: skip


def open_ticket(
    db: Database, caller: Caller, targets: Mapping[str, SlaTarget], *, tenant_id: uuid.UUID,
    subject: str, body: str, category: str, priority: str,
) -> SupportTicket:  # fmt: skip
    """A new ticket from `caller` (a customer, or the tenant's staff) to this tenant."""
    subject = _check_text(subject, "subject", limit=200)
    body = _check_text(body, "body", limit=MAX_BODY)
    _check_choice(category, CATEGORIES, "category")
    _check_choice(priority, PRIORITIES, "priority")
    now = utcnow()
    actor = caller.actor(tenant_id)
    with db.transaction() as session:
        ticket = SupportTicket(
            tenant_id=tenant_id, requester_id=caller.user_id, subject=subject,
            category=category, priority=priority, tier=1, state="new",
            created_at=now, updated_at=now,
        )  # fmt: skip
        _set_targets(ticket, targets)
        session.add(ticket)
        session.flush()
        session.add(
            SupportMessage(ticket_id=ticket.id, author_id=caller.user_id,
                           author_role=actor.role or "customer", kind="reply", body=body,
                           created_at=now)
        )  # fmt: skip
        _run_clock(session, ticket, now)
        append_event(
            session, action="ticket.opened", actor=actor, tenant_id=tenant_id,
            target_type="ticket", target_id=ticket.id,
            data={"subject": subject, "category": category, "priority": priority},
        )  # fmt: skip
        return ticket


def _scoped(query: Select[SupportTicket], desk: Desk) -> Select[SupportTicket]:
    if desk.kind == "requester":
        return query.where(SupportTicket.requester_id == desk.user_id)
    if desk.kind == "tenant":
        return query.where(SupportTicket.tenant_id == desk.tenant_id)
    return query


def _find(session: Session, desk: Desk, ticket_id: uuid.UUID, *, lock: bool) -> SupportTicket:
    """The ticket as `desk` may see it; another tenant's, or someone else's, is unknown."""
    if lock:
        where = [SupportTicket.id == ticket_id]
        if desk.kind == "requester":
            where.append(SupportTicket.requester_id == desk.user_id)
        elif desk.kind == "tenant":
            where.append(SupportTicket.tenant_id == desk.tenant_id)
        return lock_row(session, SupportTicket, *where, missing=NOT_FOUND)
    ticket = session.scalars(_scoped(select(SupportTicket), desk).where(
        SupportTicket.id == ticket_id)).one_or_none()  # fmt: skip
    if ticket is None:
        raise NotFound(NOT_FOUND)
    return ticket


def list_tickets(
    db: Database, desk: Desk, *, states: Sequence[str] = (), assignee_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None, order: Literal["due", "updated"] = "updated",
    limit: int, cursor: str | None = None,
) -> Page[TicketView]:  # fmt: skip
    """Tickets `desk` may see, newest change first; or (`order="due"`, the support
    queue) the ones whose SLA falls due soonest first, paused ones after, then the rest."""
    for state in states:
        _check_choice(state, TICKET.states, "state")
    query = _scoped(select(SupportTicket), desk)
    if states:
        query = query.where(SupportTicket.state.in_(states))
    if assignee_id is not None:
        query = query.where(SupportTicket.assignee_id == assignee_id)
    if tenant_id is not None:
        query = query.where(SupportTicket.tenant_id == tenant_id)
    with db.read() as session:
        if order == "due":
            # Bounded, not paged: the queue is the open work, the soonest due first.
            rows = session.scalars(
                query.order_by(
                    SupportTicket.resolution_due_at.is_(None),
                    SupportTicket.resolution_due_at,
                    SupportTicket.created_at,
                ).limit(limit)
            ).all()
            return Page(_rows(session, rows), None)
        rows = session.scalars(
            newest_first(query, SupportTicket.updated_at, SupportTicket.id, cursor=cursor,
                         limit=limit)
        ).all()  # fmt: skip
        page = page_of(rows, limit, lambda t: time_cursor(t.updated_at, t.id))
        return Page(_rows(session, page.items), page.next_cursor)


def get_ticket(db: Database, desk: Desk, ticket_id: uuid.UUID) -> TicketView:
    with db.read() as session:
        ticket = _find(session, desk, ticket_id, lock=False)
        return _view(session, desk, ticket)


def _view(session: Session, desk: Desk, ticket: SupportTicket) -> TicketView:
    query = select(SupportMessage).where(SupportMessage.ticket_id == ticket.id)
    if not desk.sees_notes(ticket):
        query = query.where(SupportMessage.kind == "reply")
    messages = list(session.scalars(query.order_by(SupportMessage.created_at)).all())
    ids = {ticket.requester_id, *(m.author_id for m in messages)}
    if ticket.assignee_id is not None:
        ids.add(ticket.assignee_id)
    return TicketView(
        ticket, tenants.slugs_by_id(session, [ticket.tenant_id]).get(ticket.tenant_id, ""),
        identity.emails_by_id(session, ids), messages, sla_clock(session, ticket, utcnow()),
    )  # fmt: skip


def _rows(session: Session, tickets: Sequence[SupportTicket]) -> list[TicketView]:
    ids = {t.requester_id for t in tickets} | {t.assignee_id for t in tickets if t.assignee_id}
    people = identity.emails_by_id(session, ids)
    slugs = tenants.slugs_by_id(session, {t.tenant_id for t in tickets})
    return [TicketView(t, slugs.get(t.tenant_id, ""), people, [], None) for t in tickets]


def add_message(
    db: Database, caller: Caller, desk: Desk, ticket_id: uuid.UUID, *, body: str,
    internal: bool = False,
) -> TicketView:  # fmt: skip
    """A reply (or, from an agent, an internal note). The requester's reply to a ticket
    that waits on them, or is solved, opens it again; an agent's first public reply is the
    first response. A closed ticket takes no more: open a new one."""
    body = _check_text(body, "body", limit=MAX_BODY)
    with db.transaction() as session:
        ticket = _find(session, desk, ticket_id, lock=True)
        now = utcnow()  # once the row is ours: what waited for the lock comes after
        actor = caller.actor(ticket.tenant_id)
        if internal and not desk.sees_notes(ticket):
            raise Forbidden("Only support staff and the tenant's staff write internal notes.")
        if ticket.state == "closed":
            raise Conflict(
                "This ticket is closed and takes no more replies: open a new ticket, and "
                "mention this one if it helps.",
                code="ticket_closed",
            )
        session.add(
            SupportMessage(ticket_id=ticket.id, author_id=caller.user_id,
                           author_role=actor.role or "customer",
                           kind="note" if internal else "reply", body=body, created_at=now)
        )  # fmt: skip
        ticket.updated_at = now
        from_requester = ticket.requester_id == caller.user_id
        if not internal and from_requester and ticket.state in ("pending", "solved"):
            _move(session, ticket, "open", actor, now, why="the requester replied")
        elif not internal and not from_requester and desk.is_agent:
            if ticket.first_response_at is None:
                ticket.first_response_at = now
                _set_due_times(session, ticket)
            if ticket.state == "new":
                _move(session, ticket, "open", actor, now, why="first response")
        append_event(
            session, action="ticket.note_added" if internal else "ticket.replied",
            actor=actor, tenant_id=ticket.tenant_id, target_type="ticket",
            target_id=ticket.id, data={"length": len(body)},
        )  # fmt: skip
        session.flush()
        return _view(session, desk, ticket)


def triage(
    db: Database, caller: Caller, desk: Desk, targets: Mapping[str, SlaTarget],
    ticket_id: uuid.UUID, *,
    state: str | None = None, priority: str | None = None, tier: int | None = None,
    assignee_email: str | None = None, unassign: bool = False, reason: str | None = None,
) -> TicketView:  # fmt: skip
    """An agent moves a ticket (to open, pending, solved or closed), sets its priority
    (its SLA targets change with it), its escalation tier, or who works it (a support
    admin or platform admin)."""
    if not desk.is_agent:
        raise Forbidden("Only support staff and the tenant's staff triage tickets.")
    if priority is not None:
        _check_choice(priority, PRIORITIES, "priority")
    if tier is not None and tier not in TIERS:
        raise InvalidInput("The tier is 1, 2 or 3.", code="invalid_tier")
    if state is not None:
        _check_choice(state, TICKET.states, "state")
        if state == "new":
            raise InvalidInput("A ticket never goes back to new.", code="invalid_state")
    with db.transaction() as session:
        ticket = _find(session, desk, ticket_id, lock=True)
        now = utcnow()  # once the row is ours: what waited for the lock comes after
        actor = caller.actor(ticket.tenant_id)
        changes: dict[str, object] = {}
        if assignee_email is not None or unassign:
            assignee = None if unassign else _support_person(session, assignee_email or "")
            if assignee != ticket.assignee_id:
                changes["assignee"] = assignee_email
                ticket.assignee_id = assignee
        if tier is not None and tier != ticket.tier:
            changes["tier"] = {"from": ticket.tier, "to": tier}
            ticket.tier = tier
        if priority is not None and priority != ticket.priority:
            changes["priority"] = {"from": ticket.priority, "to": priority}
            ticket.priority = priority
            _set_targets(ticket, targets)
            _set_due_times(session, ticket)
        if changes:
            ticket.updated_at = now
            append_event(
                session, action="ticket.triaged", actor=actor, tenant_id=ticket.tenant_id,
                target_type="ticket", target_id=ticket.id, reason=reason, data=changes,
            )  # fmt: skip
        if state is not None and state != ticket.state:
            _move(session, ticket, state, actor, now, why=reason or "triage")
        session.flush()
        return _view(session, desk, ticket)


def _support_person(session: Session, email: str) -> uuid.UUID:
    person = identity.require_user_by_email(session, email)
    if identity.platform_role_of(session, person.id) not in SUPPORT_DESK_ROLES:
        raise InvalidInput(
            "Tickets are assigned to support admins or platform admins.", code="invalid_assignee"
        )
    return person.id


def close_solved_tickets(
    db: Database, *, older_than: timedelta, limit: int = 500
) -> list[uuid.UUID]:
    """Close tickets solved at least `older_than` ago that nobody reopened (their support
    grants end with them); returns their ids."""
    now = utcnow()
    with db.transaction() as session:
        solved = session.scalars(
            select(SupportTicket)
            .where(SupportTicket.state == "solved", SupportTicket.solved_at <= now - older_than)
            .order_by(SupportTicket.solved_at)
            .limit(limit)
            .with_for_update()
        ).all()
        why = f"solved {older_than.days} days ago without a reply"
        for ticket in solved:
            _move(session, ticket, "closed", Actor.system("support"), now, why=why)
        return [ticket.id for ticket in solved]


def breached_tickets(session: Session, now: datetime, *, limit: int) -> Sequence[SupportTicket]:
    """Tickets whose running SLA clock is past a due time (the ops check's question)."""
    return session.scalars(
        select(SupportTicket)
        .where(
            SupportTicket.state.in_(RUNNING_STATES),
            (SupportTicket.resolution_due_at < now) | (SupportTicket.first_response_due_at < now),
        )
        .order_by(SupportTicket.resolution_due_at)
        .limit(limit)
    ).all()


def ticket_of_tenant(
    session: Session, ticket_id: uuid.UUID, tenant_id: uuid.UUID
) -> SupportTicket | None:
    return session.scalars(
        select(SupportTicket).where(
            SupportTicket.id == ticket_id, SupportTicket.tenant_id == tenant_id
        )
    ).one_or_none()
