"""Tickets' pages from the three desks: a customer's own, a tenant's staff, the support
desk (with asking a tenant for access)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.console.forms import FormFields, FormLists, FormState, check_form, form_body, once
from darvaza.console.render import act_once, page_refusals, see_other
from darvaza.errors import DarvazaError
from darvaza.http import PartsDep
from darvaza.params import TimeCursor
from darvaza.parts import Parts
from darvaza.security.grants import DATA_CLASSES
from darvaza.security.policy import (
    Access,
)
from darvaza.support import service
from darvaza.support.pages.common import (
    FORM_AGAIN,
    MANAGE,
    NO_TICKET,
    CustomerPage,
    DeskPage,
    GrantFormIn,
    SignedInPage,
    StaffPage,
    SupporterPage,
    pages,
)
from darvaza.support.schemas import (
    MessageFormIn,
    TicketIn,
    TriageFormIn,
)

router = APIRouter(prefix="/console", tags=["console"])


# --- Tickets: the three desks --------------------------------------------------------------


def _desk(access: Access, kind: str) -> service.Desk:
    if kind == "requester":
        return service.Desk("requester", access.user.user_id)
    if kind == "tenant":
        return service.Desk("tenant", access.user.user_id, access.tenant_id)
    return service.Desk("support", access.user.user_id)


def _base(access: Access, kind: str) -> str:
    """Where a desk's ticket pages live."""
    if kind == "requester":
        return "/console/tickets"
    if kind == "tenant":
        return f"/console/t/{access.tenant_slug}/manage/tickets"
    return "/console/support/tickets"


def _ticket(
    request: Request, access: Access, parts: Parts, kind: str, ticket_id: uuid.UUID, *,
    form: FormState | None = None, form_for: str = "", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    view = service.get_ticket(parts.db, _desk(access, kind), ticket_id)
    grants = []
    if kind == "support":
        grants = service.list_grants(parts.db, ticket_id=ticket_id, limit=50).items
    return pages.render(
        request, access, "ticket.html",
        {"v": view, "kind": kind, "base": _base(access, kind), "form": form,
         "form_for": form_for, "grants": grants, "data_classes": DATA_CLASSES,
         "may_ask": kind == "support" and access.user.platform_role is not None
         and access.user.platform_role.value == "support_admin",
         "max_minutes": parts.settings.support_grant_max_minutes,
         "default_minutes": parts.settings.support_grant_default_minutes},
        status_code=status_code,
    )  # fmt: skip


def _reply(request: Request, access: Access, parts: Parts, kind: str, ticket_id: uuid.UUID,
           fields: FormFields) -> Response:  # fmt: skip
    body, form = check_form(MessageFormIn, fields)

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _ticket(request, access, parts, kind, ticket_id, form=form, form_for="reply",
                       status_code=status_code)  # fmt: skip

    if body is None:
        return again(form, 422)
    internal = body.internal == "true" and kind != "requester"
    return act_once(
        parts.db, access, fields, f"{_base(access, kind)}/{ticket_id}",
        lambda: service.add_message(parts.db, access.user, _desk(access, kind), ticket_id,
                                    body=body.body, internal=internal),
        again, form,
    )  # fmt: skip


def _triage(request: Request, access: Access, parts: Parts, kind: str, ticket_id: uuid.UUID,
            fields: FormFields) -> Response:  # fmt: skip
    body, form = check_form(TriageFormIn, fields)

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _ticket(request, access, parts, kind, ticket_id, form=form, form_for="triage",
                       status_code=status_code)  # fmt: skip

    if body is None:
        return again(form, 422)
    return act_once(
        parts.db, access, fields, f"{_base(access, kind)}/{ticket_id}",
        lambda: service.triage(
            parts.db, access.user, _desk(access, kind), parts.settings.sla_targets, ticket_id,
            state=body.state, priority=body.priority, tier=body.tier,
            assignee_email=body.assignee_email, reason=body.reason,
        ),
        again, form,
    )  # fmt: skip


def _list(request: Request, access: Access, page: Any, kind: str, **more: Any) -> HTMLResponse:
    return pages.render(
        request, access, "tickets.html",
        {"page": page, "kind": kind, "base": _base(access, kind), **more},
    )  # fmt: skip


@router.get("/tickets", response_class=HTMLResponse)
def my_tickets_page(
    request: Request, access: SignedInPage, parts: PartsDep, cursor: TimeCursor = None
) -> HTMLResponse:
    page = service.list_tickets(parts.db, _desk(access, "requester"), limit=50, cursor=cursor)
    return _list(request, access, page, "requester")


@router.get(
    "/tickets/{ticket_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404=NO_TICKET),
)
def my_ticket_page(
    ticket_id: uuid.UUID, request: Request, access: SignedInPage, parts: PartsDep
) -> HTMLResponse:
    return _ticket(request, access, parts, "requester", ticket_id)


@router.post(
    "/tickets/{ticket_id:uuid}",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(MessageFormIn),
    responses=page_refusals(_404=NO_TICKET, _409="The ticket is closed.", _422=FORM_AGAIN),
)
def reply_to_my_ticket(
    ticket_id: uuid.UUID, request: Request, access: SignedInPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _reply(request, access, parts, "requester", ticket_id, fields)


def _new_ticket(request: Request, access: Access, *, form: FormState | None = None,
                status_code: int = 200) -> HTMLResponse:  # fmt: skip
    return pages.render(
        request, access, "new_ticket.html", {"tenant": access.tenant, "form": form},
        status_code=status_code,
    )  # fmt: skip


@router.get("/t/{tenant}/tickets/new", response_class=HTMLResponse)
def new_ticket_page(request: Request, access: CustomerPage) -> HTMLResponse:
    return _new_ticket(request, access)


@router.post(
    "/t/{tenant}/tickets/new",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(TicketIn),
    responses=page_refusals(_422=FORM_AGAIN),
)
def open_ticket(
    request: Request, access: CustomerPage, parts: PartsDep, fields: FormFields
) -> Response:
    body, form = check_form(TicketIn, fields)
    if body is None:
        return _new_ticket(request, access, form=form, status_code=422)

    def opened() -> str:
        ticket = service.open_ticket(
            parts.db, access.user, parts.settings.sla_targets, tenant_id=access.tenant_id,
            subject=body.subject, body=body.body, category=body.category,
            priority=body.priority,
        )  # fmt: skip
        return f"/console/tickets/{ticket.id}"

    try:
        done = once(parts.db, access.user, fields, opened, pending="/console/tickets")
    except DarvazaError as exc:
        form.refuse(exc)
        return _new_ticket(request, access, form=form, status_code=exc.status_code)
    return see_other(done.location)


@router.get(MANAGE + "/tickets", response_class=HTMLResponse)
def tenant_tickets_page(
    request: Request, access: StaffPage, parts: PartsDep, cursor: TimeCursor = None
) -> HTMLResponse:
    page = service.list_tickets(parts.db, _desk(access, "tenant"), limit=50, cursor=cursor)
    return _list(request, access, page, "tenant")


@router.get(
    MANAGE + "/tickets/{ticket_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404=NO_TICKET),
)
def tenant_ticket_page(
    ticket_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep
) -> HTMLResponse:
    return _ticket(request, access, parts, "tenant", ticket_id)


@router.post(
    MANAGE + "/tickets/{ticket_id:uuid}",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(MessageFormIn),
    responses=page_refusals(_404=NO_TICKET, _409="The ticket is closed.", _422=FORM_AGAIN),
)
def reply_as_tenant(
    ticket_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _reply(request, access, parts, "tenant", ticket_id, fields)


@router.post(
    MANAGE + "/tickets/{ticket_id:uuid}/triage",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(TriageFormIn),
    responses=page_refusals(
        _404=NO_TICKET, _409="Not a move this ticket can make.", _422=FORM_AGAIN
    ),
)
def triage_as_tenant(
    ticket_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _triage(request, access, parts, "tenant", ticket_id, fields)


@router.get("/support/tickets", response_class=HTMLResponse)
def support_queue_page(
    request: Request, access: DeskPage, parts: PartsDep, mine: bool = False
) -> HTMLResponse:
    """Open tickets of every tenant, the soonest SLA due first (paused ones after)."""
    page = service.list_tickets(
        parts.db, _desk(access, "support"), states=["new", "open", "pending", "solved"],
        assignee_id=access.user.user_id if mine else None, order="due", limit=200,
    )  # fmt: skip
    return _list(request, access, page, "support", mine=mine)


@router.get(
    "/support/tickets/{ticket_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404=NO_TICKET),
)
def support_ticket_page(
    ticket_id: uuid.UUID, request: Request, access: DeskPage, parts: PartsDep
) -> HTMLResponse:
    return _ticket(request, access, parts, "support", ticket_id)


@router.post(
    "/support/tickets/{ticket_id:uuid}",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(MessageFormIn),
    responses=page_refusals(_404=NO_TICKET, _409="The ticket is closed.", _422=FORM_AGAIN),
)
def reply_as_support(
    ticket_id: uuid.UUID, request: Request, access: DeskPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _reply(request, access, parts, "support", ticket_id, fields)


@router.post(
    "/support/tickets/{ticket_id:uuid}/triage",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(TriageFormIn),
    responses=page_refusals(
        _404=NO_TICKET, _409="Not a move this ticket can make.", _422=FORM_AGAIN
    ),
)
def triage_as_support(
    ticket_id: uuid.UUID, request: Request, access: DeskPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    return _triage(request, access, parts, "support", ticket_id, fields)


@router.post(
    "/support/tickets/{ticket_id:uuid}/grants",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(GrantFormIn),
    responses=page_refusals(_404=NO_TICKET, _409="The ticket is closed.", _422=FORM_AGAIN),
)
def ask_for_access(
    ticket_id: uuid.UUID, request: Request, access: SupporterPage, parts: PartsDep,
    fields: FormFields, lists: FormLists,
) -> Response:  # fmt: skip
    """Ask the ticket's tenant for access (the data classes and actions are checkboxes)."""
    body, form = check_form(
        GrantFormIn, fields,
        extra={"data_classes": lists.get("data_classes", []), "actions": lists.get("actions", [])},
    )  # fmt: skip

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _ticket(request, access, parts, "support", ticket_id, form=form, form_for="grant",
                       status_code=status_code)  # fmt: skip

    if body is None:
        return again(form, 422)
    ticket = service.get_ticket(parts.db, _desk(access, "support"), ticket_id).ticket

    def ask() -> str:
        view = service.request_grant(
            parts.db, access.user, service.GrantRules.from_settings(parts.settings),
            tenant_id=ticket.tenant_id, ticket_id=ticket_id, reason=body.reason,
            data_classes=body.data_classes, access=body.access, actions=body.actions,
            duration_minutes=body.duration_minutes,
        )  # fmt: skip
        return f"/console/support/grants/{view.grant.id}"

    try:
        done = once(parts.db, access.user, fields, ask, pending="/console/support/grants")
    except DarvazaError as exc:
        form.refuse(exc)
        return again(form, exc.status_code)
    return see_other(done.location)
