"""`darvaza readiness`: may the platform go live? The V1 proofs from the evidence and the
live state, written as Markdown, printed (or as JSON), and the exit status a deploy
script gates on; and the exemptions that stand in for a proof for a while."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Annotated

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail
from darvaza.cli.status import write_page

readiness_app = typer.Typer(
    help="The V1 readiness report (exit 0 only when READY), and its exemptions.",
    invoke_without_command=True,
)
ForOption = Annotated[
    str | None,
    typer.Option("--for", help="The profile the claim is for: local, staging or production "
                 "[default: this instance's]."),
]  # fmt: skip


@readiness_app.callback()
def readiness(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    output: Annotated[
        str, typer.Option(help="Where to write the Markdown report; `-` prints it instead.")
    ] = "docs/RUNTIME/READINESS.md",
    for_profile: ForOption = None,
) -> None:
    """Judge every proof now, write the report, print the verdict and what blocks it.
    Exits 0 when READY, 1 when NOT_READY."""
    if context.invoked_subcommand is not None:
        return
    from darvaza.assembly import CHECKS
    from darvaza.config.settings import Profile
    from darvaza.ops.alert_routes import AlertRoutesError, load_alert_routes
    from darvaza.readiness.markdown import render_markdown
    from darvaza.readiness.schemas import ReadinessOut
    from darvaza.readiness.service import READY, readiness_report

    if for_profile is not None and for_profile not in {p.value for p in Profile}:
        _fail(f"--for is local, staging or production, not {for_profile}.", code=2)
    with _database() as (settings, db):
        try:
            routes: object = load_alert_routes(settings)
        except AlertRoutesError as exc:
            routes = str(exc)
        report = readiness_report(db, settings, CHECKS, routes, for_profile=for_profile)  # type: ignore[arg-type]
    write_page(output, render_markdown(report))
    if as_json:
        typer.echo(json.dumps(ReadinessOut.of(report).model_dump(mode="json"), indent=2))
    elif output != "-":
        typer.echo(f"{report.verdict} for {report.for_profile}")
        for proof in report.proofs:
            typer.echo(f"  {proof.status:<8} {proof.key}")
            for blocker in proof.blockers[:5]:
                typer.echo(f"           - {blocker}")
            for command in proof.commands:
                typer.echo(f"           run: {command}")
    if report.verdict != READY:
        raise typer.Exit(1)


@readiness_app.command("exempt")
def exempt(
    proof: Annotated[str, typer.Argument(help="The proof's key, such as staging_smoke.")],
    reason: Annotated[str, typer.Option(help="Why it may stand exempt (audited).")],
    days: Annotated[int, typer.Option(min=1, help="For how many days from now.")],
) -> None:
    """Let one proof stand exempt for some days, with a reason; audited. The production
    claim never; the backup and restore drill proofs not in production."""
    from darvaza.clock import utcnow
    from darvaza.readiness.service import exempt_proof
    from darvaza.security.caller import Actor

    with _database() as (settings, db):
        exemption = exempt_proof(
            db, settings, Actor.system(CLI_ACTOR), who="cli", proof=proof, reason=reason,
            expires_at=utcnow() + timedelta(days=days),
        )  # fmt: skip
    typer.echo(f"{exemption.id}  {proof} exempt until {exemption.expires_at:%Y-%m-%d %H:%M} UTC")


@readiness_app.command("exemptions")
def exemptions(limit: Annotated[int, typer.Option(min=1, max=200)] = 50) -> None:
    """Every exemption ever granted, newest first, with its state now."""
    from darvaza.clock import utcnow
    from darvaza.readiness.service import list_exemptions

    with _database() as (_, db):
        page = list_exemptions(db, limit=limit)
    now = utcnow()
    for e in page.items:
        typer.echo(
            f"{e.id}  {e.proof:<18} {e.state(now):<9} until {e.expires_at:%Y-%m-%d %H:%M}  "
            f"{e.granted_by}: {e.reason}"
        )


@readiness_app.command("withdraw")
def withdraw(
    exemption_id: Annotated[str, typer.Argument(help="The exemption's id.")],
    reason: Annotated[str, typer.Option(help="Why it ends now (audited).")],
) -> None:
    """End an exemption now; audited."""
    from darvaza.readiness.service import withdraw_exemption
    from darvaza.security.caller import Actor

    try:
        wanted = uuid.UUID(exemption_id)
    except ValueError:
        _fail(f"Not an exemption id: {exemption_id}", code=2)
    with _database() as (_, db):
        withdraw_exemption(db, Actor.system(CLI_ACTOR), wanted, who="cli", reason=reason)
    typer.echo(f"{exemption_id} withdrawn")
