"""`darvaza ops`: run the checks now, read the summary and the findings, acknowledge one."""

from __future__ import annotations

import getpass
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail

if TYPE_CHECKING:
    from darvaza.ops.service import Summary

ops_app = typer.Typer(
    help="What is wrong right now: run the checks, read the summary and the findings.",
    no_args_is_help=True,
)


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // (24 * 60)}d"


def _finding_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        _fail(f"Not a finding id: {value}", code=2)


@ops_app.command("check")
def ops_check(
    code: Annotated[
        list[str] | None, typer.Option("--code", help="Only this check (repeatable).")
    ] = None,
) -> None:
    """Run every check now (or the ones named), whatever their interval, and apply what
    they see to the findings. Exits 1 when a check raised."""
    from darvaza.assembly import CHECKS, assemble
    from darvaza.ops.service import run_checks

    chosen = list(CHECKS)
    if code:
        unknown = sorted(set(code) - {check.code for check in chosen})
        if unknown:
            _fail(f"No such check: {', '.join(unknown)}.", code=2)
        chosen = [check for check in chosen if check.code in code]
    with _database() as (settings, db):
        reports = run_checks(assemble(settings, db), chosen)
    typer.echo(f"{'check':<34} {'seen':>5} {'opened':>7} {'resolved':>9} {'ms':>8}  error")
    for report in reports:
        error = (report.error or "").strip().splitlines()[-1:] or [""]
        typer.echo(
            f"{report.code:<34} {report.observed:>5} {report.opened + report.reopened:>7} "
            f"{report.resolved:>9} {report.seconds * 1000:>8.1f}  {error[0][:80]}"
        )
    if any(report.error for report in reports):
        raise typer.Exit(1)


def _print_summary(summary: Summary) -> None:
    instance = summary.instance
    typer.echo(
        f"{summary.status.upper()}  {instance.profile}/{instance.name}  darvaza "
        f"{instance.version} ({instance.revision or 'revision unknown'})  schema "
        f"{summary.migration_head or 'empty'}  at {summary.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    counts = summary.counts()
    typer.echo(
        "findings: "
        + ", ".join(f"{n} {severity}" for severity, n in counts["by_severity"].items())
        + f"; {counts['by_state']['acknowledged']} acknowledged"
    )
    stale = [status.check.code for status in summary.checks if status.stale]
    failing = [status.check.code for status in summary.checks if status.error]
    if stale:
        typer.echo(f"stale checks ({len(stale)}): {', '.join(stale)}")
    if failing:
        typer.echo(f"erroring checks ({len(failing)}): {', '.join(failing)}")
    if not summary.findings:
        typer.echo(
            "No findings."
            if summary.all_checks_fresh
            else "No findings, but not every check "
            "ran recently: run `darvaza ops check`, and make sure a worker runs."
        )
    for view in summary.findings:
        finding = view.finding
        typer.echo(
            f"\n[{finding.severity}] {finding.code}  {finding.subject_type}:{finding.subject_id}"
            f"  {view.state}  for {_age(view.age_seconds)}  owner {view.owner}"
        )
        typer.echo(f"  {finding.title}. Finding {finding.id}; playbook {view.playbook}")
        for number, step in enumerate(view.first_steps, start=1):
            typer.echo(f"  {number}. {step}")


@ops_app.command("summary")
def ops_summary(
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON answer.")] = False,
) -> None:
    """What is wrong right now, from the stored findings: status, stale or erroring checks,
    and the unresolved findings worst first with their playbook's first steps. Exits 0
    when the status is `ok`, 1 otherwise."""
    from darvaza.assembly import CHECKS
    from darvaza.ops.schemas import SummaryOut
    from darvaza.ops.service import ops_summary as read_summary

    with _database() as (settings, db):
        summary = read_summary(db, settings, CHECKS)
    if as_json:
        typer.echo(SummaryOut.of(summary).model_dump_json(indent=2))
    else:
        _print_summary(summary)
    if summary.status != "ok":
        raise typer.Exit(1)


@ops_app.command("findings")
def ops_findings(
    state: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
    code: Annotated[str | None, typer.Option(help="Only this check's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Findings in any state, most recently changed first."""
    from darvaza.ops.service import FindingFilter, list_findings

    with _database() as (_, db):
        found = list_findings(db, FindingFilter(state=state, code=code), limit=limit).items
    for finding in found:
        typer.echo(
            f"{finding.id}  {finding.state:<12} {finding.severity:<8} {finding.code:<32} "
            f"{finding.subject_type}:{finding.subject_id}  last seen "
            f"{finding.last_seen_at:%Y-%m-%d %H:%M}"
        )
    if not found:
        typer.echo("No findings.")


@ops_app.command("finding")
def ops_finding(finding_id: Annotated[str, typer.Argument(help="The finding's id.")]) -> None:
    """One finding with its timeline, as JSON."""
    from darvaza.assembly import CHECKS
    from darvaza.ops.schemas import FindingEventOut, FindingHistoryOut, FindingOut
    from darvaza.ops.service import get_finding, views_of

    with _database() as (_, db):
        finding, events = get_finding(db, _finding_id(finding_id))
    (view,) = views_of([finding], CHECKS)
    shown = FindingHistoryOut(
        finding=FindingOut.of(view),
        events=[FindingEventOut.model_validate(event, from_attributes=True) for event in events],
    )
    typer.echo(shown.model_dump_json(indent=2))


@ops_app.command("acknowledge")
def ops_acknowledge(
    finding_id: Annotated[str, typer.Argument(help="The finding's id.")],
    reason: Annotated[str, typer.Option(help="Why it may stay quiet (a ticket, a plan).")],
    hours: Annotated[float, typer.Option("--for", help="Hours it stays quiet.", min=0.1)] = 4,
) -> None:
    """Someone is on it: quiet for `--for` hours, then open again unless resolved. Exits 1
    for an unknown or resolved finding."""
    from darvaza.clock import utcnow
    from darvaza.ops.service import acknowledge_finding
    from darvaza.security.caller import Actor

    if len(reason.strip()) < 3:
        _fail("Give a reason of at least 3 characters.", code=2)
    with _database() as (settings, db):
        finding = acknowledge_finding(
            db,
            _finding_id(finding_id),
            actor=Actor.system(CLI_ACTOR),
            who=f"{CLI_ACTOR}:{getpass.getuser()}",
            reason=reason.strip(),
            until=utcnow() + timedelta(hours=hours),
            max_days=settings.ops_acknowledge_max_days,
        )
    typer.echo(f"Acknowledged {finding.code} ({finding.id}) until {finding.acknowledged_until}.")
