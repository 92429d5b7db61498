"""Incidents' pages. The public status page (anyone). For platform staff: the incidents,
declaring one (also from a finding), and one incident with its story, where platform
admins move its status, post updates, record mitigation steps, hand out roles and write
the review; support admins declare and write notes; auditors read."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from darvaza.clock import utcnow
from darvaza.console.forms import FormFields, FormLists, FormState, check_form, form_body, once
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, act_once, page_refusals, see_other
from darvaza.errors import N_, DarvazaError, InvalidInput
from darvaza.http import PartsDep
from darvaza.incidents import service
from darvaza.incidents.schemas import Component, MitigationKind, MitigationResult, Role
from darvaza.incidents.schemas import SeverityName as SeverityIn
from darvaza.params import EmailIn, TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import (
    OPS_READER,
    PLATFORM_ADMIN,
    PUBLIC,
    TENANT_DIRECTORY,
    Access,
    Requires,
)
from darvaza.security.roles import PlatformRole

router = APIRouter(tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
ReaderPage = Annotated[Access, Requires(OPS_READER.for_pages())]
ResponderPage = Annotated[Access, Requires(TENANT_DIRECTORY.for_pages())]
AdminPage = Annotated[Access, Requires(PLATFORM_ADMIN.for_pages())]
BASE = "/console/admin/incidents"
NO_INCIDENT = "No incident has this id."
FORM_AGAIN = "The form again, with what is wrong."
STATE = "The incident's status does not allow this (the page again, saying why)."

M = TypeVar("M", bound=BaseModel)

NAV = [NavEntry(N_("Platform"), N_("Incidents"), BASE, OPS_READER, 31)]

Ticked = Literal["true"] | None
MinutesAgo = Field(default=None, ge=0, le=60 * 24 * 30)


class DeclareFormIn(BaseModel):
    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    severity: SeverityIn
    summary: str = Field(default="", max_length=10_000)
    components: list[Component] = Field(default_factory=list)
    tenants: str = Field(default="", max_length=4_000, description="slugs, by spaces or commas")
    all_tenants: Ticked = None
    commander_email: EmailIn | None = None
    started_minutes_ago: int | None = MinutesAgo
    detected_minutes_ago: int | None = MinutesAgo
    finding_id: uuid.UUID | None = None


class StatusFormIn(BaseModel):
    status: Literal["open", "mitigated", "resolved", "cancelled"]
    reason: str | None = Field(default=None, max_length=2_000)


class UpdateFormIn(BaseModel):
    body: str = Field(min_length=1, max_length=5_000, pattern=r"\S")
    public: Ticked = None


class NoteFormIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


class MitigationFormIn(BaseModel):
    kind: MitigationKind
    description: str = Field(min_length=1, max_length=10_000, pattern=r"\S")
    result: MitigationResult
    evidence_id: uuid.UUID | None = None


class RoleFormIn(BaseModel):
    role: Role
    email: EmailIn | None = None


class ReviewFormIn(BaseModel):
    summary: str = Field(default="", max_length=10_000)
    impact_notes: str = Field(default="", max_length=10_000)
    timeline_summary: str = Field(default="", max_length=10_000)
    root_causes: str = Field(default="", max_length=10_000)
    went_well: str = Field(default="", max_length=10_000)
    went_badly: str = Field(default="", max_length=10_000)
    action_items: str = Field(
        default="", max_length=20_000,
        description="one a line: what | the owner's email | due date (YYYY-MM-DD)",
    )  # fmt: skip


def _rules(parts: Parts) -> service.IncidentRules:
    return service.IncidentRules.from_settings(parts.settings)


def _ago(minutes: int | None) -> datetime | None:
    return utcnow() - timedelta(minutes=minutes) if minutes is not None else None


def _is(access: Access, role: PlatformRole) -> bool:
    return access.user.platform_role is role


# --- The public status page ------------------------------------------------------------


@router.get("/status", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def status_page(request: Request, parts: PartsDep) -> HTMLResponse:
    """Each component's state, and the current and recent incidents with their public
    updates: what was published, nothing else."""
    status = service.public_status(parts.db, days=parts.settings.status_page_days)
    return pages.render(request, None, "status.html", {"status": status})


# --- The incidents ---------------------------------------------------------------------


def _list(
    request: Request, access: Access, parts: Parts, *, cursor: str | None = None,
    finding_id: uuid.UUID | None = None, form: FormState | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    page = service.list_incidents(parts.db, cursor=cursor, limit=50)
    return pages.render(
        request, access, "incidents.html",
        {"page": page, "form": form, "finding_id": finding_id,
         "may_declare": access.user.platform_role in (PlatformRole.PLATFORM_ADMIN,
                                                      PlatformRole.SUPPORT_ADMIN),
         "severities": service.SEVERITIES, "components": service.COMPONENTS},
        status_code=status_code,
    )  # fmt: skip


@router.get(BASE, response_class=HTMLResponse)
def incidents_page(
    request: Request, access: ReaderPage, parts: PartsDep, cursor: TimeCursor = None,
    finding_id: Annotated[uuid.UUID | None, Query(description="declare from this finding")] = None,
) -> HTMLResponse:  # fmt: skip
    """Incidents, the most recently declared first, and the form to declare one."""
    return _list(request, access, parts, cursor=cursor, finding_id=finding_id)


def _slugs(text: str) -> list[str]:
    return [slug for slug in re.split(r"[\s,،]+", text) if slug]


@router.post(
    BASE,
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(DeclareFormIn),
    responses=page_refusals(_409="The finding belongs to another incident.", _422=FORM_AGAIN),
)
def declare_incident(
    request: Request, access: ResponderPage, parts: PartsDep, fields: FormFields,
    lists: FormLists,
) -> Response:  # fmt: skip
    body, form = check_form(
        DeclareFormIn, fields, extra={"components": lists.get("components", [])}
    )
    if body is None:
        return _list(request, access, parts, form=form, status_code=422)

    def declared() -> str:
        incident_id = service.declare_incident(
            parts.db, access.user.actor(), _rules(parts), title=body.title,
            summary=body.summary, severity=body.severity,
            commander_email=body.commander_email, components=body.components,
            tenant_slugs=_slugs(body.tenants), all_tenants=body.all_tenants == "true",
            started_at=_ago(body.started_minutes_ago),
            detected_at=_ago(body.detected_minutes_ago), finding_id=body.finding_id,
        )  # fmt: skip
        return f"{BASE}/{incident_id}"

    try:
        return see_other(once(parts.db, access.user, fields, declared, pending=BASE).location)
    except DarvazaError as exc:
        form.refuse(exc)
        return _list(request, access, parts, form=form, status_code=exc.status_code)


def _incident(
    request: Request, access: Access, parts: Parts, incident_id: uuid.UUID, *,
    form: FormState | None = None, form_for: str = "", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    view = service.get_incident(parts.db, incident_id)
    story = service.incident_timeline(parts.db, incident_id, limit=200)
    return pages.render(
        request, access, "incident.html",
        {"v": view, "i": view.incident, "story": story, "form": form, "form_for": form_for,
         "admin": _is(access, PlatformRole.PLATFORM_ADMIN),
         "may_note": access.user.platform_role in (PlatformRole.PLATFORM_ADMIN,
                                                   PlatformRole.SUPPORT_ADMIN),
         "severity": service.SEVERITIES[view.incident.severity],
         "took": service.durations(view.incident), "roles": service.ROLES,
         "mitigation_kinds": service.MITIGATION_KINDS,
         "mitigation_results": service.MITIGATION_RESULTS,
         "now": datetime.now(UTC)},
        status_code=status_code,
    )  # fmt: skip


@router.get(
    BASE + "/{incident_id}",
    response_class=HTMLResponse,
    responses=page_refusals(_404=NO_INCIDENT),
)
def incident_page(
    incident_id: uuid.UUID, request: Request, access: ReaderPage, parts: PartsDep
) -> HTMLResponse:
    """One incident: its state, times, people, updates, mitigation steps, findings, review
    and its whole story."""
    return _incident(request, access, parts, incident_id)


def _act(
    request: Request, access: Access, parts: Parts, incident_id: uuid.UUID, fields: FormFields,
    form_for: str, model: type[M], action: Callable[[M], object],
) -> Response:  # fmt: skip
    """Check a form of the incident's page, do its action once and come back to the page;
    a refusal shows the page again with why."""
    body, form = check_form(model, fields)
    where = f"{BASE}/{incident_id}"

    def again(form: FormState, status_code: int) -> HTMLResponse:
        return _incident(request, access, parts, incident_id, form=form, form_for=form_for,
                         status_code=status_code)  # fmt: skip

    if body is None:
        return again(form, 422)
    return act_once(parts.db, access, fields, where, lambda: action(body), again, form)


def _form_route(path: str, model: type[BaseModel]) -> Callable[..., object]:
    return router.post(
        BASE + "/{incident_id}" + path,
        status_code=303,
        response_class=RedirectResponse,
        openapi_extra=form_body(model),
        responses=page_refusals(_404=NO_INCIDENT, _409=STATE, _422=FORM_AGAIN),
    )


@_form_route("/status", StatusFormIn)
def move_incident(
    incident_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """Mitigated, resolved, open again, or cancelled."""

    def move(body: StatusFormIn) -> None:
        service.set_status(parts.db, access.user.actor(), _rules(parts), incident_id,
                           body.status, reason=body.reason)  # fmt: skip

    return _act(request, access, parts, incident_id, fields, "status", StatusFormIn, move)


@_form_route("/updates", UpdateFormIn)
def post_update(
    incident_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """A status update; a public one goes to the status page and the owners' mail."""

    def post(body: UpdateFormIn) -> None:
        service.post_update(parts.db, access.user.actor(), _rules(parts), incident_id,
                            body=body.body, public=body.public == "true")  # fmt: skip

    return _act(request, access, parts, incident_id, fields, "update", UpdateFormIn, post)


@_form_route("/notes", NoteFormIn)
def add_note(
    incident_id: uuid.UUID, request: Request, access: ResponderPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """A staff note in the story."""

    def note(body: NoteFormIn) -> None:
        service.add_note(parts.db, access.user.actor(), incident_id, body.body)

    return _act(request, access, parts, incident_id, fields, "note", NoteFormIn, note)


@_form_route("/mitigations", MitigationFormIn)
def record_mitigation(
    incident_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """A mitigation step as it was run; a rollback or a restore names its evidence."""

    def record(body: MitigationFormIn) -> None:
        service.record_mitigation(
            parts.db, access.user.actor(), incident_id, kind=body.kind,
            description=body.description, result=body.result, evidence_id=body.evidence_id,
        )  # fmt: skip

    return _act(request, access, parts, incident_id, fields, "mitigation", MitigationFormIn,
                record)  # fmt: skip


@_form_route("/roles", RoleFormIn)
def assign_role(
    incident_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """Hand a role to a staff member (an empty email leaves it empty)."""

    def assign(body: RoleFormIn) -> None:
        service.assign_role(parts.db, access.user.actor(), incident_id, body.role, body.email)

    return _act(request, access, parts, incident_id, fields, "role", RoleFormIn, assign)


def _action_items(text: str) -> list[service.ActionItemIn]:
    """`what | owner's email | YYYY-MM-DD` a line (due at the end of that day, UTC)."""
    items = []
    for number, line in enumerate(filter(str.strip, text.splitlines()), start=1):
        cells = [cell.strip() for cell in line.split("|")]
        try:
            title, owner, due = cells
            day = datetime.strptime(due, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(
                f"Action item {number} is not 'what | owner's email | YYYY-MM-DD'.",
                code="invalid_action_item",
            ) from None
        items.append(service.ActionItemIn(title, owner, day + timedelta(hours=23, minutes=59)))
    return items


@_form_route("/review", ReviewFormIn)
def review_incident(
    incident_id: uuid.UUID, request: Request, access: AdminPage, parts: PartsDep,
    fields: FormFields,
) -> Response:  # fmt: skip
    """The post-incident review; the incident becomes reviewed."""

    def review(body: ReviewFormIn) -> None:
        items = _action_items(body.action_items)
        written = body.model_dump(exclude={"action_items"})
        service.review_incident(parts.db, access.user.actor(), _rules(parts), incident_id,
                                parts=written, action_items=items)  # fmt: skip

    return _act(request, access, parts, incident_id, fields, "review", ReviewFormIn, review)


class ButtonFormIn(BaseModel):
    """A form that is only its button (and the fields every form carries)."""


@router.post(
    BASE + "/{incident_id}/action-items/{item_id}/done",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ButtonFormIn),
    responses=page_refusals(_404="No such incident or action item.", _409="Done already."),
)
def action_item_done(
    incident_id: uuid.UUID, item_id: uuid.UUID, request: Request, access: AdminPage,
    parts: PartsDep, fields: FormFields,
) -> Response:  # fmt: skip
    def done(_body: ButtonFormIn) -> None:
        service.complete_action_item(parts.db, access.user.actor(), incident_id, item_id)

    return _act(request, access, parts, incident_id, fields, "items", ButtonFormIn, done)
