"""`darvaza tenants` and `darvaza plans`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass

from darvaza.cli.common import (
    CLI_ACTOR,
    _database,
)

tenants_app = typer.Typer(help="Tenants: list, create, show.", no_args_is_help=True)
plans_app = typer.Typer(help="A tenant's plans.", no_args_is_help=True)


@tenants_app.command("list")
def tenants_list(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """Tenants by slug."""
    from darvaza.tenants.service import list_tenants

    with _database() as (_, db):
        tenants = list_tenants(db, limit=limit, after=None)
    for tenant in tenants:
        typer.echo(f"{tenant.slug}  {tenant.name}  gateway {tenant.payment_gateway or 'default'}")
    if not tenants:
        typer.echo("No tenants.")


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Option(help="Lower-case letters, digits and -.")],
    name: Annotated[str, typer.Option(help="The tenant's name as people see it.")],
    owner_email: Annotated[str, typer.Option(help="An existing account, its first owner.")],
) -> None:
    """Create a tenant with its first owner (audited)."""
    from darvaza.security.caller import Actor
    from darvaza.tenants.service import create_tenant

    with _database() as (_, db):
        tenant = create_tenant(
            db, Actor.system(CLI_ACTOR), slug=slug, name=name, owner_email=owner_email
        )
    typer.echo(f"Created tenant {tenant.slug} ({tenant.name}), id {tenant.id}")


@tenants_app.command("show")
def tenants_show(slug: Annotated[str, typer.Argument(help="The tenant's slug.")]) -> None:
    """One tenant: its gateway, its owners and managers, and its plans."""
    from darvaza.billing.service import list_plans
    from darvaza.tenants.service import find_tenant, list_members

    with _database() as (settings, db):
        tenant = find_tenant(db, slug)
        members = list_members(db, tenant.id)
        plans = list_plans(db, tenant.id, include_retired=True)
    gateway = tenant.payment_gateway or f"{settings.payment_gateway.value} (the default)"
    typer.echo(f"{tenant.slug}  {tenant.name}  id {tenant.id}")
    typer.echo(f"  gateway: {gateway}")
    for member in members:
        typer.echo(f"  {member.role}: {member.user.email}")
    typer.echo(f"  plans: {len(plans)} ({sum(p.active for p in plans)} on sale)")


@plans_app.command("list")
def plans_list(
    tenant: Annotated[str, typer.Option(help="The tenant's slug.")],
    include_retired: Annotated[bool, typer.Option(help="Show retired plans too.")] = False,
) -> None:
    """A tenant's plans: code, price, period, and whether it is on sale."""
    from darvaza.billing.service import list_plans
    from darvaza.tenants.service import find_tenant

    with _database() as (_, db):
        found = list_plans(db, find_tenant(db, tenant).id, include_retired=include_retired)
    for plan in found:
        sale = "on sale" if plan.active else "retired"
        typer.echo(
            f"{plan.code}  {plan.name}  {plan.price_rials:,} Rials / {plan.period_days} days"
            f"  {sale}  id {plan.id}"
        )
    if not found:
        typer.echo("No plans.")
