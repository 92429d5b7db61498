"""`darvaza payments`: lists and one payment's timeline."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass

from darvaza.cli.common import (
    _database,
)

payments_app = typer.Typer(help="Payments and their timelines.", no_args_is_help=True)


@payments_app.command("list")
def payments_list(
    state: Annotated[
        str | None, typer.Option(help="Only this state (paid, mismatch, ...).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's (its slug).")] = None,
    gateway: Annotated[str | None, typer.Option(help="Only this gateway's.")] = None,
    stuck: Annotated[bool, typer.Option(help="Only those still open past their time.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Payments of every tenant, newest first; mismatched and stuck ones are counted first."""
    from darvaza.billing.service import (
        PaymentFilter,
        list_payments,
        payments_needing_attention,
        stuck_after,
    )

    with _database() as (settings, db):
        attention = payments_needing_attention(db, stuck_after=stuck_after(settings))
        page = list_payments(
            db,
            PaymentFilter(state=state, tenant_slug=tenant, gateway=gateway, stuck_only=stuck),
            stuck_after=stuck_after(settings),
            limit=limit,
        )
    typer.echo(f"mismatch: {attention['mismatch']}  stuck: {attention['stuck']}")
    for listed in page.items:
        p = listed.payment
        typer.echo(
            f"{p.created_at:%Y-%m-%d %H:%M}  {p.order_id}  {p.state:<9}"
            f"{' STUCK' if listed.stuck else ''}  {p.amount_rials:>12,} Rials  {p.gateway:<8}"
            f"  {listed.tenant_slug}  {p.plan_code}  {listed.user_email}"
        )
    if not page.items:
        typer.echo("No payments.")


@payments_app.command("show")
def payments_show(
    order_id: Annotated[str, typer.Argument(help="Darvaza's order id (dz-...).")],
) -> None:
    """Print a payment and its timeline: every step, what arrived and what was decided."""

    from darvaza.billing.service import payment_timeline

    with _database() as (_, db):
        timeline = payment_timeline(db, order_id=order_id)
    payment = timeline.payment
    typer.echo(
        f"{payment.order_id}  {payment.state}  {payment.amount_rials:,} Rials via {payment.gateway}"
        f"  (gateway id {payment.gateway_payment_id or '-'},"
        f" receipt {payment.gateway_reference or '-'})"
    )
    if payment.failure_code:
        typer.echo(f"  failure: {payment.failure_code}: {payment.failure_message}")
    for event in timeline.events:
        typer.echo(f"  {event.occurred_at:%Y-%m-%d %H:%M:%S}  {event.kind:<18} {event.message}")
        if event.data:
            typer.echo(f"      {json.dumps(event.data, ensure_ascii=False, sort_keys=True)}")
