"""Support access grants as people see them: one with its whole history, lists of them,
and the action log of what was done under them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.db import Database, values_by_id
from darvaza.errors import InvalidInput, NotFound
from darvaza.identity import service as identity
from darvaza.paging import Page, newest_first, page_of, time_cursor
from darvaza.support.models import (
    GRANT,
    SupportGrant,
    SupportGrantAction,
    SupportGrantEvent,
    SupportTicket,
)
from darvaza.tenants import service as tenants

NOT_FOUND = "No support grant has this id here."


@dataclass(frozen=True)
class GrantView:
    grant: SupportGrant
    events: list[SupportGrantEvent]
    people: dict[uuid.UUID, str]
    tenant_slug: str
    ticket_subject: str


def list_grants(
    db: Database, *, tenant_id: uuid.UUID | None = None, requester_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None, states: Sequence[str] = (), limit: int,
    cursor: str | None = None,
) -> Page[GrantView]:  # fmt: skip
    """Grants, newest request first; a tenant's, or one requester's, or every one."""
    for state in states:
        if state not in GRANT.states:
            raise InvalidInput(f"A grant's state is one of {', '.join(GRANT.states)}.",
                               code="invalid_state")  # fmt: skip
    query = select(SupportGrant)
    if tenant_id is not None:
        query = query.where(SupportGrant.tenant_id == tenant_id)
    if requester_id is not None:
        query = query.where(SupportGrant.requester_id == requester_id)
    if ticket_id is not None:
        query = query.where(SupportGrant.ticket_id == ticket_id)
    if states:
        query = query.where(SupportGrant.state.in_(states))
    with db.read() as session:
        rows = session.scalars(
            newest_first(query, SupportGrant.requested_at, SupportGrant.id, cursor=cursor,
                         limit=limit)
        ).all()  # fmt: skip
        page = page_of(rows, limit, lambda g: time_cursor(g.requested_at, g.id))
        return Page(_views(session, page.items), page.next_cursor)


def get_grant(db: Database, grant_id: uuid.UUID, *, tenant_id: uuid.UUID | None) -> GrantView:
    with db.read() as session:
        query = select(SupportGrant).where(SupportGrant.id == grant_id)
        if tenant_id is not None:
            query = query.where(SupportGrant.tenant_id == tenant_id)
        grant = session.scalars(query).one_or_none()
        if grant is None:
            raise NotFound(NOT_FOUND)
        return view_of(session, grant)


def grant_actions(
    db: Database, *, tenant_id: uuid.UUID | None, grant_id: uuid.UUID | None = None,
    limit: int, cursor: str | None = None,
) -> Page[SupportGrantAction]:  # fmt: skip
    """What was done under a grant (or under every grant on a tenant), newest first."""
    query = select(SupportGrantAction)
    if tenant_id is not None:
        query = query.where(SupportGrantAction.tenant_id == tenant_id)
    if grant_id is not None:
        query = query.where(SupportGrantAction.grant_id == grant_id)
    with db.read() as session:
        rows = session.scalars(
            newest_first(query, SupportGrantAction.occurred_at, SupportGrantAction.id,
                         cursor=cursor, limit=limit)
        ).all()  # fmt: skip
    return page_of(rows, limit, lambda a: time_cursor(a.occurred_at, a.id))


def unreviewed_break_glass(session: Session, *, limit: int) -> Sequence[SupportGrant]:
    return session.scalars(
        select(SupportGrant)
        .where(SupportGrant.break_glass.is_(True), SupportGrant.reviewed_at.is_(None))
        .order_by(SupportGrant.approved_at)
        .limit(limit)
    ).all()


def grants_requested(
    session: Session, tenant_ids: Sequence[uuid.UUID] | None, since: datetime, until: datetime
) -> Sequence[SupportGrant]:
    """Grants asked for in `[since, until)`, for these tenants (None: any), oldest first."""
    query = select(SupportGrant).where(
        SupportGrant.requested_at >= since, SupportGrant.requested_at < until
    )
    if tenant_ids is not None:
        query = query.where(SupportGrant.tenant_id.in_(tenant_ids))
    return session.scalars(query.order_by(SupportGrant.requested_at).limit(500)).all()


def _views(session: Session, grants: Sequence[SupportGrant]) -> list[GrantView]:
    """Grants as a list shows them (without their history)."""
    ids = {g.requester_id for g in grants}
    ids |= {i for g in grants for i in (g.decided_by, g.reviewed_by) if i}
    people = identity.emails_by_id(session, ids)
    slugs = tenants.slugs_by_id(session, {g.tenant_id for g in grants})
    subjects = values_by_id(
        session, SupportTicket.id, SupportTicket.subject, {g.ticket_id for g in grants}
    )
    return [
        GrantView(g, [], people, slugs.get(g.tenant_id, ""), subjects.get(g.ticket_id, ""))
        for g in grants
    ]


def view_of(session: Session, grant: SupportGrant) -> GrantView:
    events = list(
        session.scalars(
            select(SupportGrantEvent)
            .where(SupportGrantEvent.grant_id == grant.id)
            .order_by(SupportGrantEvent.occurred_at, SupportGrantEvent.id)
        ).all()
    )
    ids = {grant.requester_id, *(e.actor_id for e in events if e.actor_id)}
    ids |= {i for i in (grant.decided_by, grant.reviewed_by) if i}
    ticket = session.get(SupportTicket, grant.ticket_id)
    return GrantView(
        grant, events, identity.emails_by_id(session, ids),
        tenants.slugs_by_id(session, [grant.tenant_id]).get(grant.tenant_id, ""),
        ticket.subject if ticket else "",
    )  # fmt: skip
