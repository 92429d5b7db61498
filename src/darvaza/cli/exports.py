"""`darvaza exports`: the CSV exports on this instance, one written straight to a file by
the operator, and expiring the kept ones now (the hourly job's work)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail, _utc
from darvaza.exports.models import Dataset, ExportState

if TYPE_CHECKING:
    from darvaza.db import Database


exports_app = typer.Typer(
    help="CSV exports: list them, write one to a file, expire the kept ones.",
    no_args_is_help=True,
)
TenantOption = Annotated[str | None, typer.Option(help="The tenant's slug.")]


def _tenant_id(db: Database, slug: str | None) -> uuid.UUID | None:
    from darvaza.tenants.service import find_tenant

    return find_tenant(db, slug).id if slug else None


@exports_app.command("list")
def exports_list(
    state: Annotated[ExportState | None, typer.Option(help="Only exports in this state.")] = None,
    tenant: TenantOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Every export asked for on this instance, newest first: who asked, its state, rows,
    size and when its file is deleted."""
    from darvaza.exports.service import all_exports

    with _database() as (_, db):
        found = all_exports(db, state=state, tenant_id=_tenant_id(db, tenant), limit=limit)
    for export in found:
        size = f"{export.rows} rows, {export.size_bytes} bytes" if export.rows is not None else ""
        until = f"kept until {export.expires_at:%Y-%m-%d %H:%M}" if export.expires_at else ""
        asked = f"{export.created_at:%Y-%m-%d %H:%M}"
        typer.echo(
            f"{export.id}  {export.dataset:<11} {export.state:<8} {asked}"
            f"  by {export.requested_by}  {size}  {until}".rstrip()
        )
        if export.error:
            typer.echo(f"      error: {export.error[:200]}")
    if not found:
        typer.echo("No exports.")


@exports_app.command("write")
def exports_write(
    dataset: Annotated[Dataset, typer.Argument(help="What to export.")],
    to: Annotated[Path, typer.Option(help="The CSV file to write (never overwritten).")],
    tenant: TenantOption = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time (UTC).")] = None,
) -> None:
    """Write an export straight to a file on this host, for an operator answering a
    tenant's or an auditor's request: the same columns and neutralised cells as the
    console's, written whole or not at all (mode 0600), and audited as `export.written`.
    A tenant's dataset needs --tenant; the audit log takes none."""
    from darvaza.exports.service import write_export
    from darvaza.security.caller import Actor

    if (dataset == "audit") == (tenant is not None):
        _fail("The audit log takes no --tenant; every other dataset needs one.", code=2)
    with _database() as (_, db):
        written = write_export(
            db, Actor.system(CLI_ACTOR), dataset=dataset, tenant_id=_tenant_id(db, tenant),
            target=to, since=_utc(since), until=_utc(until),
        )  # fmt: skip
    typer.echo(f"{to}: {written.rows} rows, {written.size} bytes, sha256 {written.sha256}")


@exports_app.command("expire")
def exports_expire() -> None:
    """Delete the files of exports past their keeping time now (the worker does it every
    hour); each becomes expired, audited."""
    from darvaza.exports.service import expire_exports

    with _database() as (settings, db):
        count = expire_exports(db, settings)
    typer.echo(f"{count} exports expired.")
