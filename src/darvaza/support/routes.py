"""The support API: tickets seen from three desks (the requester's own, the tenant's staff,
the platform's support desk), and support access grants (asked for at the support desk,
decided and watched by the tenant's owners)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from darvaza.errors import refuses
from darvaza.http import PartsDep
from darvaza.paging import Page
from darvaza.params import PageLimit, TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import (
    SIGNED_IN,
    SUPPORT_ADMIN,
    TENANT_CUSTOMER,
    TENANT_DIRECTORY,
    TENANT_OWNER,
    TENANT_STAFF,
    Access,
    Requires,
)
from darvaza.support import service
from darvaza.support.schemas import (
    DecisionIn,
    GrantActionOut,
    GrantActionPageOut,
    GrantDetailOut,
    GrantIn,
    GrantPageOut,
    GrantState,
    MessageIn,
    ReasonIn,
    ReplyIn,
    ReviewIn,
    TicketDetailOut,
    TicketIn,
    TicketOut,
    TicketPageOut,
    TicketState,
    TriageIn,
)
from darvaza.tenants.service import find_tenant

me_router = APIRouter(prefix="/api/v1/me/tickets", tags=["support"])
tenant_router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["support"])
desk_router = APIRouter(prefix="/api/v1/support", tags=["support"])
routers = (me_router, tenant_router, desk_router)

SignedIn = Annotated[Access, Requires(SIGNED_IN)]
Desk = Annotated[Access, Requires(TENANT_DIRECTORY)]
Owner = Annotated[Access, Requires(TENANT_OWNER)]
Supporter = Annotated[Access, Requires(SUPPORT_ADMIN)]
TenantTickets = Annotated[Access, Requires(TENANT_STAFF.under_grant("tickets"))]
TenantReply = Annotated[Access, Requires(TENANT_STAFF.under_grant("tickets", "tickets.reply"))]
TenantTriage = Annotated[Access, Requires(TENANT_STAFF.under_grant("tickets", "tickets.triage"))]
States = Annotated[list[TicketState], Query(max_length=5, description="only these states")]
GrantStates = Annotated[list[GrantState], Query(max_length=7, description="only these states")]

CLOSED = "The ticket is closed and takes no more replies: open a new one."
GRANT_STATE = "The grant is no longer in a state that allows this (the code names its state)."


def _requester(access: Access) -> service.Desk:
    return service.Desk("requester", access.user.user_id)


def _tenant_desk(access: Access) -> service.Desk:
    return service.Desk("tenant", access.user.user_id, access.tenant_id)


def _support_desk(access: Access) -> service.Desk:
    return service.Desk("support", access.user.user_id)


def _page(page: Page[service.TicketView]) -> TicketPageOut:
    return TicketPageOut(items=[TicketOut.of(v) for v in page.items], next_cursor=page.next_cursor)


def _grants(page: Page[service.GrantView]) -> GrantPageOut:
    return GrantPageOut(
        items=[GrantDetailOut.of(v) for v in page.items], next_cursor=page.next_cursor
    )


def _actions(page: Page[service.GrantAction]) -> GrantActionPageOut:
    return GrantActionPageOut(
        items=[GrantActionOut.model_validate(a, from_attributes=True) for a in page.items],
        next_cursor=page.next_cursor,
    )


def _reply(access: Access, parts: Parts, desk: service.Desk, ticket_id: uuid.UUID,
           body: str, internal: bool) -> TicketDetailOut:  # fmt: skip
    view = service.add_message(parts.db, access.user, desk, ticket_id, body=body, internal=internal)
    return TicketDetailOut.of(view)


def _triage(access: Access, parts: Parts, desk: service.Desk, ticket_id: uuid.UUID,
            body: TriageIn) -> TicketDetailOut:  # fmt: skip
    view = service.triage(
        parts.db, access.user, desk, parts.settings.sla_targets, ticket_id,
        state=body.state, priority=body.priority, tier=body.tier,
        assignee_email=body.assignee_email, unassign=body.unassign, reason=body.reason,
    )  # fmt: skip
    return TicketDetailOut.of(view)


# A customer's (or anyone's) own tickets.


@tenant_router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketDetailOut)
def open_ticket(
    body: TicketIn, access: Annotated[Access, Requires(TENANT_CUSTOMER)], parts: PartsDep
) -> TicketDetailOut:
    """Open a ticket to this tenant (as one of its customers, or its staff)."""
    ticket = service.open_ticket(
        parts.db, access.user, parts.settings.sla_targets, tenant_id=access.tenant_id,
        subject=body.subject, body=body.body, category=body.category, priority=body.priority,
    )  # fmt: skip
    return TicketDetailOut.of(service.get_ticket(parts.db, _requester(access), ticket.id))


@me_router.get("", response_model=TicketPageOut)
def my_tickets(
    access: SignedIn, parts: PartsDep, limit: PageLimit = 50, cursor: TimeCursor = None
) -> TicketPageOut:
    """Tickets I opened, newest change first."""
    return _page(service.list_tickets(parts.db, _requester(access), limit=limit, cursor=cursor))


@me_router.get("/{ticket_id}", response_model=TicketDetailOut)
def my_ticket(ticket_id: uuid.UUID, access: SignedIn, parts: PartsDep) -> TicketDetailOut:
    """One of my tickets with its public replies (internal notes are never shown here)."""
    return TicketDetailOut.of(service.get_ticket(parts.db, _requester(access), ticket_id))


@me_router.post(
    "/{ticket_id}/messages", response_model=TicketDetailOut, responses=refuses(_409=CLOSED)
)
def reply_to_my_ticket(
    ticket_id: uuid.UUID, body: ReplyIn, access: SignedIn, parts: PartsDep
) -> TicketDetailOut:
    """Reply to my ticket: one that waits on me, or is solved, opens again."""
    return _reply(access, parts, _requester(access), ticket_id, body.body, False)


# A tenant's staff (or a support admin under a grant covering `tickets`).


@tenant_router.get("/tickets", response_model=TicketPageOut)
def tenant_tickets(
    access: TenantTickets, parts: PartsDep, state: States = [],  # noqa: B006 (FastAPI copies it)
    limit: PageLimit = 50, cursor: TimeCursor = None,
) -> TicketPageOut:  # fmt: skip
    """This tenant's tickets, newest change first."""
    desk = _tenant_desk(access)
    return _page(service.list_tickets(parts.db, desk, states=state, limit=limit, cursor=cursor))


@tenant_router.get("/tickets/{ticket_id}", response_model=TicketDetailOut)
def tenant_ticket(ticket_id: uuid.UUID, access: TenantTickets, parts: PartsDep) -> TicketDetailOut:
    return TicketDetailOut.of(service.get_ticket(parts.db, _tenant_desk(access), ticket_id))


@tenant_router.post(
    "/tickets/{ticket_id}/messages", response_model=TicketDetailOut, responses=refuses(_409=CLOSED)
)
def reply_as_tenant(
    ticket_id: uuid.UUID, body: MessageIn, access: TenantReply, parts: PartsDep
) -> TicketDetailOut:
    """A public reply, or an internal note (`internal`)."""
    return _reply(access, parts, _tenant_desk(access), ticket_id, body.body, body.internal)


@tenant_router.patch(
    "/tickets/{ticket_id}",
    response_model=TicketDetailOut,
    responses=refuses(_409="The ticket's state does not allow that move."),
)
def triage_as_tenant(
    ticket_id: uuid.UUID, body: TriageIn, access: TenantTriage, parts: PartsDep
) -> TicketDetailOut:
    """Move the ticket, set its priority or tier, or assign it to a support person."""
    return _triage(access, parts, _tenant_desk(access), ticket_id, body)


# The support desk: every tenant's tickets.


@desk_router.get(
    "/tickets", response_model=TicketPageOut, responses=refuses(_404="No tenant has this slug.")
)
def support_queue(
    access: Desk, parts: PartsDep, state: States = [],  # noqa: B006 (FastAPI copies it)
    tenant: Annotated[str | None, Query(max_length=63, description="a tenant's slug")] = None,
    mine: Annotated[bool, Query(description="only tickets assigned to me")] = False,
    order: Annotated[str, Query(pattern="^(due|updated)$", description="due: the queue, "
                                "soonest SLA due first (one page)")] = "due",
    limit: PageLimit = 50, cursor: TimeCursor = None,
) -> TicketPageOut:  # fmt: skip
    """Tickets of every tenant: by default the open ones, the soonest due first."""
    states = state or ["new", "open", "pending", "solved"]
    tenant_id = find_tenant(parts.db, tenant).id if tenant else None
    page = service.list_tickets(
        parts.db, _support_desk(access), states=states, tenant_id=tenant_id,
        assignee_id=access.user.user_id if mine else None,
        order="due" if order == "due" else "updated", limit=limit, cursor=cursor,
    )  # fmt: skip
    return _page(page)


@desk_router.get("/tickets/{ticket_id}", response_model=TicketDetailOut)
def support_ticket(ticket_id: uuid.UUID, access: Desk, parts: PartsDep) -> TicketDetailOut:
    return TicketDetailOut.of(service.get_ticket(parts.db, _support_desk(access), ticket_id))


@desk_router.post(
    "/tickets/{ticket_id}/messages", response_model=TicketDetailOut, responses=refuses(_409=CLOSED)
)
def reply_as_support(
    ticket_id: uuid.UUID, body: MessageIn, access: Desk, parts: PartsDep
) -> TicketDetailOut:
    return _reply(access, parts, _support_desk(access), ticket_id, body.body, body.internal)


@desk_router.patch(
    "/tickets/{ticket_id}",
    response_model=TicketDetailOut,
    responses=refuses(_409="The ticket's state does not allow that move."),
)
def triage_as_support(
    ticket_id: uuid.UUID, body: TriageIn, access: Desk, parts: PartsDep
) -> TicketDetailOut:
    return _triage(access, parts, _support_desk(access), ticket_id, body)


# Support access grants, from the support desk.


@desk_router.post(
    "/grants",
    status_code=status.HTTP_201_CREATED,
    response_model=GrantDetailOut,
    responses=refuses(_409=CLOSED),
)
def request_grant(body: GrantIn, access: Supporter, parts: PartsDep) -> GrantDetailOut:
    """Ask a tenant for access to some of its data, for one of its tickets. Its owners
    are told by mail; the duration counts from their approval."""
    view = service.request_grant(
        parts.db, access.user, service.GrantRules.from_settings(parts.settings),
        tenant_id=find_tenant(parts.db, body.tenant).id, ticket_id=body.ticket_id,
        reason=body.reason, data_classes=body.data_classes, access=body.access,
        actions=body.actions, duration_minutes=body.duration_minutes,
    )  # fmt: skip
    return GrantDetailOut.of(view)


@desk_router.get("/grants", response_model=GrantPageOut)
def list_grants(
    access: Desk, parts: PartsDep, state: GrantStates = [],  # noqa: B006 (FastAPI copies it)
    mine: Annotated[bool, Query(description="only grants I asked for")] = False,
    limit: PageLimit = 50, cursor: TimeCursor = None,
) -> GrantPageOut:  # fmt: skip
    page = service.list_grants(
        parts.db, requester_id=access.user.user_id if mine else None, states=state,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return _grants(page)


@desk_router.get(
    "/grants/{grant_id}", response_model=GrantDetailOut, dependencies=[Requires(TENANT_DIRECTORY)]
)
def show_grant(grant_id: uuid.UUID, parts: PartsDep) -> GrantDetailOut:
    """A grant with its whole history."""
    return GrantDetailOut.of(service.get_grant(parts.db, grant_id, tenant_id=None))


@desk_router.post(
    "/grants/{grant_id}/withdraw",
    response_model=GrantDetailOut,
    responses=refuses(_403="Only its requester withdraws a grant.", _409=GRANT_STATE),
)
def withdraw_grant(
    grant_id: uuid.UUID, body: ReasonIn, access: Supporter, parts: PartsDep
) -> GrantDetailOut:
    """Take back a request, or give up an approved grant before its time is over."""
    return GrantDetailOut.of(service.withdraw_grant(parts.db, access.user, grant_id, body.reason))


@desk_router.get(
    "/grants/{grant_id}/actions",
    response_model=GrantActionPageOut,
    dependencies=[Requires(TENANT_DIRECTORY)],
)
def grant_actions(
    grant_id: uuid.UUID, parts: PartsDep, limit: PageLimit = 50,
    cursor: TimeCursor = None,
) -> GrantActionPageOut:  # fmt: skip
    """Every request made under the grant, newest first."""
    service.get_grant(parts.db, grant_id, tenant_id=None)
    page = service.grant_actions(
        parts.db, tenant_id=None, grant_id=grant_id, limit=limit, cursor=cursor
    )
    return _actions(page)


# Support access grants, as the tenant's owners see and decide them.


@tenant_router.get("/support-grants", response_model=GrantPageOut)
def tenant_grants(
    access: Owner, parts: PartsDep, state: GrantStates = [],  # noqa: B006 (FastAPI copies it)
    limit: PageLimit = 50, cursor: TimeCursor = None,
) -> GrantPageOut:  # fmt: skip
    """Requests for access to this tenant and the grants given, newest first."""
    page = service.list_grants(
        parts.db, tenant_id=access.tenant_id, states=state, limit=limit, cursor=cursor
    )
    return _grants(page)


@tenant_router.get("/support-grants/{grant_id}", response_model=GrantDetailOut)
def tenant_grant(grant_id: uuid.UUID, access: Owner, parts: PartsDep) -> GrantDetailOut:
    return GrantDetailOut.of(service.get_grant(parts.db, grant_id, tenant_id=access.tenant_id))


@tenant_router.post(
    "/support-grants/{grant_id}/approve",
    response_model=GrantDetailOut,
    responses=refuses(_409=GRANT_STATE),
)
def approve_grant(
    grant_id: uuid.UUID, body: DecisionIn, access: Owner, parts: PartsDep
) -> GrantDetailOut:
    """An owner approves (the grant's clock starts now). A platform admin who is not an
    owner approves only with `break_glass` and a reason: at most an hour, reviewed later."""
    view = service.decide_grant(
        parts.db, access.user, grant_id, tenant_id=access.tenant_id, approve=True,
        reason=body.reason, break_glass=body.break_glass,
    )  # fmt: skip
    return GrantDetailOut.of(view)


@tenant_router.post(
    "/support-grants/{grant_id}/deny",
    response_model=GrantDetailOut,
    responses=refuses(_409=GRANT_STATE),
)
def deny_grant(
    grant_id: uuid.UUID, body: ReasonIn, access: Owner, parts: PartsDep
) -> GrantDetailOut:
    view = service.decide_grant(
        parts.db, access.user, grant_id, tenant_id=access.tenant_id, approve=False,
        reason=body.reason,
    )  # fmt: skip
    return GrantDetailOut.of(view)


@tenant_router.post(
    "/support-grants/{grant_id}/revoke",
    response_model=GrantDetailOut,
    responses=refuses(_409=GRANT_STATE),
)
def revoke_grant(
    grant_id: uuid.UUID, body: ReasonIn, access: Owner, parts: PartsDep
) -> GrantDetailOut:
    """End an approved grant at once: the very next request under it is refused."""
    view = service.revoke_grant(
        parts.db,
        access.user.actor(access.tenant_id),
        grant_id,
        tenant_id=access.tenant_id,
        reason=body.reason,
    )
    return GrantDetailOut.of(view)


@tenant_router.post(
    "/support-grants/{grant_id}/review",
    response_model=GrantDetailOut,
    responses=refuses(_409="Not a break-glass approval, or reviewed already."),
)
def review_grant(
    grant_id: uuid.UUID, body: ReviewIn, access: Owner, parts: PartsDep
) -> GrantDetailOut:
    """Review a break-glass approval (the tenant's owner, or another platform admin)."""
    view = service.review_grant(
        parts.db, access.user, grant_id, tenant_id=access.tenant_id, note=body.note
    )
    return GrantDetailOut.of(view)


@tenant_router.get("/support-actions", response_model=GrantActionPageOut)
def tenant_grant_actions(
    access: Owner, parts: PartsDep,
    grant_id: Annotated[uuid.UUID | None, Query(description="only this grant's")] = None,
    limit: PageLimit = 50, cursor: TimeCursor = None,
) -> GrantActionPageOut:  # fmt: skip
    """Every request support made on this tenant under a grant, newest first."""
    page = service.grant_actions(
        parts.db, tenant_id=access.tenant_id, grant_id=grant_id, limit=limit, cursor=cursor
    )
    return _actions(page)
