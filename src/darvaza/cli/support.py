"""`darvaza support`: tickets and support access grants, for the operator at the
machine."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail

support_app = typer.Typer(help="Support tickets and support access grants.", no_args_is_help=True)
tickets_app = typer.Typer(help="Support tickets.", no_args_is_help=True)
grants_app = typer.Typer(help="Support access grants.", no_args_is_help=True)
support_app.add_typer(tickets_app, name="tickets")
support_app.add_typer(grants_app, name="grants")

Limit = Annotated[int, typer.Option(min=1, max=200)]
States = Annotated[list[str] | None, typer.Option(help="Only this state (repeat for more).")]
TenantSlug = Annotated[str | None, typer.Option(help="Only this tenant's (its slug).")]
# The operator at the machine looks from the support desk as nobody in particular (so every
# internal note shows: the operator is no ticket's requester).
OPERATOR = uuid.UUID(int=0)


def _id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        _fail(f"{value!r} is not a {what} id.")


@tickets_app.command("list")
def tickets_list(state: States = None, tenant: TenantSlug = None, limit: Limit = 50) -> None:
    """The support queue: open tickets of every tenant, the soonest SLA due first."""
    from darvaza.support.service import Desk, list_tickets
    from darvaza.tenants.service import find_tenant

    with _database() as (_, db):
        tenant_id = find_tenant(db, tenant).id if tenant else None
        page = list_tickets(
            db, Desk("support", OPERATOR), order="due", tenant_id=tenant_id,
            states=state or ["new", "open", "pending", "solved"], limit=limit,
        )  # fmt: skip
    for view in page.items:
        t = view.ticket
        due = f"{t.resolution_due_at:%Y-%m-%d %H:%M}" if t.resolution_due_at else "paused"
        typer.echo(
            f"{t.id}  {t.state:<8} {t.priority:<7} tier {t.tier}  due {due:<16}  "
            f"{view.tenant_slug}  {view.people.get(t.requester_id, '')}  {t.subject}"
        )
    if not page.items:
        typer.echo("No tickets.")


@tickets_app.command("show")
def tickets_show(ticket_id: Annotated[str, typer.Argument(help="The ticket's id.")]) -> None:
    """A ticket with every reply and internal note, and its SLA clock."""
    from darvaza.support.service import Desk, get_ticket

    with _database() as (_, db):
        view = get_ticket(db, Desk("support", OPERATOR), _id(ticket_id, "ticket"))
    t, sla = view.ticket, view.sla
    typer.echo(f"{t.id}  {t.state}  {t.priority}  tier {t.tier}  {view.tenant_slug}")
    typer.echo(f"  {t.subject}")
    typer.echo(f"  requester {view.people.get(t.requester_id, '')}; assignee "
               f"{view.people.get(t.assignee_id, '-') if t.assignee_id else '-'}")  # fmt: skip
    if sla is not None:
        typer.echo(
            f"  SLA {'running' if sla.running else 'paused'}{' BREACHED' if sla.breached else ''}:"
            f" first response due {sla.first_response_due_at or '-'},"
            f" resolution due {sla.resolution_due_at or '-'}"
        )
    for m in view.messages:
        typer.echo(f"  {m.created_at:%Y-%m-%d %H:%M}  {m.kind:<5}  "
                   f"{view.people.get(m.author_id, '')} ({m.author_role})")  # fmt: skip
        for line in m.body.splitlines():
            typer.echo(f"      {line}")


@grants_app.command("list")
def grants_list(state: States = None, tenant: TenantSlug = None, limit: Limit = 50) -> None:
    """Support access grants, newest request first."""
    from darvaza.support.service import list_grants
    from darvaza.tenants.service import find_tenant

    with _database() as (_, db):
        tenant_id = find_tenant(db, tenant).id if tenant else None
        page = list_grants(db, tenant_id=tenant_id, states=state or (), limit=limit)
    for view in page.items:
        g = view.grant
        scope = ",".join(g.data_classes) + f" {g.access}"
        typer.echo(
            f"{g.id}  {g.state:<9} {view.tenant_slug}  {scope}  {g.duration_minutes} min"
            f"{'  BREAK-GLASS' if g.break_glass else ''}  {view.people.get(g.requester_id, '')}"
        )
    if not page.items:
        typer.echo("No support grants.")


@grants_app.command("show")
def grants_show(grant_id: Annotated[str, typer.Argument(help="The grant's id.")]) -> None:
    """A grant, its whole history, and what was done under it."""
    from darvaza.support.service import get_grant, grant_actions

    with _database() as (_, db):
        view = get_grant(db, _id(grant_id, "grant"), tenant_id=None)
        actions = grant_actions(db, tenant_id=None, grant_id=view.grant.id, limit=200)
    g = view.grant
    typer.echo(
        f"{g.id}  {g.state}  {view.tenant_slug}  ticket {g.ticket_id} ({view.ticket_subject})"
    )
    typer.echo(f"  requester {view.people.get(g.requester_id, '')}: {g.reason}")
    typer.echo(f"  scope {', '.join(g.data_classes)} {g.access}"
               f"{': ' + ', '.join(g.actions) if g.actions else ''}; {g.duration_minutes} min"
               f"{'; ends ' + g.ends_at.isoformat() if g.ends_at else ''}")  # fmt: skip
    if g.break_glass:
        typer.echo(f"  break-glass; reviewed {g.reviewed_at or 'NOT YET'}")
    typer.echo("  history:")
    for e in view.events:
        who = view.people.get(e.actor_id, "") if e.actor_id else "system"
        typer.echo(f"    {e.occurred_at:%Y-%m-%d %H:%M:%S}  {e.event:<10} {who}"
                   f"{'  ' + e.reason if e.reason else ''}")  # fmt: skip
    typer.echo(f"  actions under it ({len(actions.items)}):")
    for a in actions.items:
        typer.echo(f"    {a.occurred_at:%Y-%m-%d %H:%M:%S}  {a.status}  {a.method} {a.route}"
                   f"  {a.object_ids or ''}")  # fmt: skip


@grants_app.command("revoke")
def grants_revoke(
    grant_id: Annotated[str, typer.Argument(help="The grant's id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the grant's history).")],
) -> None:
    """End an approved grant at once: the very next request under it is refused."""
    from darvaza.security.caller import Actor
    from darvaza.support.service import revoke_grant

    with _database() as (_, db):
        view = revoke_grant(db, Actor.system(CLI_ACTOR), _id(grant_id, "grant"), tenant_id=None,
                            reason=reason)  # fmt: skip
    typer.echo(f"Revoked {view.grant.id} ({view.tenant_slug}).")
