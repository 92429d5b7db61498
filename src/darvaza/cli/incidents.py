"""`darvaza incidents`: declare, update, mitigate, resolve, review, list and show incidents,
for the operator at the machine (the audit log names the CLI)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail
from darvaza.security.caller import Actor

incidents_app = typer.Typer(help="Incidents: declare, update, mitigate, resolve, review.",
                            no_args_is_help=True)  # fmt: skip

IncidentId = Annotated[str, typer.Argument(help="The incident's id.")]
When = Annotated[str | None, typer.Option(help="ISO 8601 time with a zone (default: now).")]


def _id(value: str, what: str = "incident") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        _fail(f"{value!r} is not an {what} id.")


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--{name}: {value!r} is not an ISO 8601 time.")
    if at.tzinfo is None:
        _fail(f"--{name}: give the time zone (e.g. 2026-12-06T10:00:00Z).")
    return at


def _actor() -> Actor:
    return Actor.system(CLI_ACTOR)


@incidents_app.command("declare")
def declare(
    title: Annotated[str, typer.Option(help="What is wrong, in a line.")],
    severity: Annotated[str, typer.Option(help="SEV1 (worst) to SEV4; when unsure, higher.")],
    commander: Annotated[str, typer.Option(help="The commander: a staff member's email.")],
    summary: Annotated[str, typer.Option(help="What is known.")] = "",
    component: Annotated[list[str] | None, typer.Option(help="A component hit (repeat).")] = None,
    tenant: Annotated[list[str] | None, typer.Option(help="A tenant's slug (repeat).")] = None,
    all_tenants: Annotated[bool, typer.Option(help="Every tenant is affected.")] = False,
    started_at: When = None,
    detected_at: When = None,
    finding: Annotated[str | None, typer.Option(help="Declared from this finding's id.")] = None,
) -> None:  # fmt: skip
    """Declare an incident; prints its id."""
    from darvaza.incidents.service import IncidentRules, declare_incident

    with _database() as (settings, db):
        incident_id = declare_incident(
            db, _actor(), IncidentRules.from_settings(settings), title=title, summary=summary,
            severity=severity.upper(), commander_email=commander, components=component or [],
            tenant_slugs=tenant or [], all_tenants=all_tenants,
            started_at=_time(started_at, "started-at"),
            detected_at=_time(detected_at, "detected-at"),
            finding_id=_id(finding, "finding") if finding else None,
        )  # fmt: skip
    typer.echo(str(incident_id))


@incidents_app.command("update")
def update(
    incident_id: IncidentId,
    body: Annotated[str, typer.Option(help="The update's text.")],
    public: Annotated[bool, typer.Option(help="Publish it (status page, owners' mail).")] = False,
) -> None:
    """Post a status update (internal unless --public); the next one falls due by severity."""
    from darvaza.incidents.service import IncidentRules, get_incident, post_update

    with _database() as (settings, db):
        post_update(db, _actor(), IncidentRules.from_settings(settings), _id(incident_id),
                    body=body, public=public)  # fmt: skip
        due = get_incident(db, _id(incident_id)).incident.next_update_due_at
    typer.echo(f"Posted. Next update due {due.isoformat() if due else 'never (it has ended)'}.")


@incidents_app.command("mitigate")
def mitigate(
    incident_id: IncidentId,
    kind: Annotated[str, typer.Option(help="rollback, restore, config_change or other.")],
    description: Annotated[str, typer.Option(help="What was done.")],
    result: Annotated[str, typer.Option(help="succeeded, partial or failed.")] = "succeeded",
    evidence: Annotated[str | None, typer.Option(help="The evidence of the run it was.")] = None,
    mark_mitigated: Annotated[bool, typer.Option(help="Also mark the incident mitigated.")] = False,
    at: When = None,
) -> None:  # fmt: skip
    """Record a mitigation step as it was run (a rollback or restore names its evidence)."""
    from darvaza.incidents.service import IncidentRules, record_mitigation, set_status

    with _database() as (settings, db):
        record_mitigation(
            db, _actor(), _id(incident_id), kind=kind, description=description, result=result,
            evidence_id=_id(evidence, "evidence") if evidence else None, at=_time(at, "at"),
        )  # fmt: skip
        if mark_mitigated:
            set_status(db, _actor(), IncidentRules.from_settings(settings), _id(incident_id),
                       "mitigated", at=_time(at, "at"), reason=description)  # fmt: skip
    typer.echo("Recorded." + (" The incident is mitigated." if mark_mitigated else ""))


@incidents_app.command("resolve")
def resolve(
    incident_id: IncidentId,
    reason: Annotated[str | None, typer.Option(help="Why it is over.")] = None,
    at: When = None,
    cancel: Annotated[bool, typer.Option(help="Declared by mistake: cancel it instead.")] = False,
) -> None:
    """The impact is gone (or, with --cancel, there never was one)."""
    from darvaza.incidents.service import IncidentRules, set_status

    target = "cancelled" if cancel else "resolved"
    with _database() as (settings, db):
        set_status(db, _actor(), IncidentRules.from_settings(settings), _id(incident_id),
                   target, at=_time(at, "at"), reason=reason)  # fmt: skip
    typer.echo(f"The incident is {target}.")


@incidents_app.command("review")
def review(
    incident_id: IncidentId,
    summary: Annotated[str, typer.Option(help="What happened, in brief.")],
    impact: Annotated[str, typer.Option(help="Who and what was affected.")] = "",
    timeline: Annotated[str, typer.Option(help="The story, in brief.")] = "",
    root_causes: Annotated[str, typer.Option(help="Why it happened (no blame).")] = "",
    went_well: Annotated[str, typer.Option(help="What helped.")] = "",
    went_badly: Annotated[str, typer.Option(help="What hurt.")] = "",
    action: Annotated[list[str] | None, typer.Option(
        help="An action item: 'what|owner's email|YYYY-MM-DD' (repeat)."
    )] = None,
) -> None:  # fmt: skip
    """Write the post-incident review of a resolved incident; it becomes reviewed. SEV1
    and SEV2 need every part and an action item."""
    from darvaza.incidents.service import ActionItemIn, IncidentRules, review_incident

    items = []
    for text in action or []:
        try:
            what, owner, due = (cell.strip() for cell in text.split("|"))
            day = datetime.strptime(due, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            _fail(f"--action {text!r} is not 'what|owner's email|YYYY-MM-DD'.")
        items.append(ActionItemIn(what, owner, day + timedelta(hours=23, minutes=59)))
    written = {
        "summary": summary, "impact_notes": impact, "timeline_summary": timeline,
        "root_causes": root_causes, "went_well": went_well, "went_badly": went_badly,
    }  # fmt: skip
    with _database() as (settings, db):
        review_incident(db, _actor(), IncidentRules.from_settings(settings), _id(incident_id),
                        parts=written, action_items=items)  # fmt: skip
    typer.echo("Reviewed.")


@incidents_app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="Only this status (repeat).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Incidents, the most recently declared first."""
    from darvaza.incidents.service import list_incidents

    with _database() as (_, db):
        page = list_incidents(db, statuses=status or [], limit=limit)
    for i in page.items:
        due = f"next update {i.next_update_due_at:%Y-%m-%d %H:%M}" if i.next_update_due_at else ""
        declared = f"{i.declared_at:%Y-%m-%d %H:%M}"
        typer.echo(f"{i.id}  {i.severity}  {i.status:<9}  declared {declared}  {due:<27} {i.title}")
    if not page.items:
        typer.echo("No incidents.")


@incidents_app.command("show")
def show(incident_id: IncidentId) -> None:
    """An incident: its times, people, updates, mitigation, review and whole story."""
    from darvaza.incidents.service import durations, get_incident, incident_timeline

    with _database() as (_, db):
        view = get_incident(db, _id(incident_id))
        story = incident_timeline(db, view.incident.id, limit=200)
    i = view.incident
    tenants = "all" if i.all_tenants else ", ".join(view.named_tenants) or "none"
    components = ", ".join(i.components) or "none named"
    typer.echo(
        f"{i.title}\n{i.severity} · {i.status} · components: {components} · tenants: {tenants}"
    )
    for role in ("commander", "communications", "scribe"):
        typer.echo(f"  {role}: {view.email(getattr(i, f'{role}_id')) or 'nobody'}")
    for name in ("started_at", "detected_at", "declared_at", "mitigated_at", "resolved_at",
                 "reviewed_at", "cancelled_at", "next_update_due_at"):  # fmt: skip
        if (at := getattr(i, name)) is not None:
            typer.echo(f"  {name}: {at.isoformat()}")
    for name, seconds in durations(i).items():
        if seconds is not None:
            typer.echo(f"  {name}: {seconds / 60:.1f} min")
    if view.suggested_tenants:
        typer.echo(f"  suggested tenants: {', '.join(view.suggested_tenants)}")
    for item in view.action_items:
        state = f"done {item.done_at:%Y-%m-%d}" if item.done_at else f"due {item.due_at:%Y-%m-%d}"
        typer.echo(f"  action item: {item.title} ({view.email(item.owner_id)}, {state})")
    typer.echo("Story:")
    for e in story.events:
        who = story.people.get(e.actor_id, "") if e.actor_id else (e.actor_role or "")
        typer.echo(f"  {e.occurred_at:%Y-%m-%d %H:%M:%S}  {e.kind:<13} {who:<24} {e.text}")
