"""`darvaza evidence`: the record of every operational run."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail
from darvaza.operations.models import EVIDENCE_KINDS, EVIDENCE_RESULTS

if TYPE_CHECKING:
    from darvaza.config import Settings
    from darvaza.db import Database
    from darvaza.operations.models import Evidence
    from darvaza.operations.service import Run

evidence_app = typer.Typer(
    help="Evidence of operational runs: record one made elsewhere, list, show.",
    no_args_is_help=True,
)


def _details_from(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        details = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"Cannot read the details from {path}: {exc}", code=2)
    if not isinstance(details, dict):
        _fail(f"The details in {path} are not a JSON object.", code=2)
    return details


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{option} is not an ISO 8601 time: {value}", code=2)
    if moment.tzinfo is None:
        _fail(f"{option} needs a time zone (such as 2026-12-01T10:00:00Z).", code=2)
    return moment


def record_own_run(
    settings: Settings, db: Database, kind: str, name: str, result: str,
    details: dict[str, Any], *, started_at: datetime,
) -> None:  # fmt: skip
    """Record a run this command made (a config or migration check) on the instance it is
    configured for (see `record_own`)."""
    from darvaza.operations.service import Run

    record_own(settings, db, Run(kind, name, result, details, started_at=started_at))


def record_own(settings: Settings, db: Database, run: Run) -> None:
    """Record a run this command made. A database that cannot take it yet (unreachable, or
    not migrated as far as the evidence table) is a note on stderr: the run's own verdict
    stands."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from darvaza.operations.service import record_evidence
    from darvaza.security.caller import Actor

    try:
        with db.engine.connect() as connection:
            ready = inspect(connection).has_table("evidence")
        if not ready:
            typer.echo(
                f"note: no {run.kind} evidence recorded: migrate the database first", err=True
            )
            return
        evidence = record_evidence(db, settings, Actor.system(CLI_ACTOR), run)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        typer.echo(f"note: no {run.kind} evidence recorded: {reason}", err=True)
        return
    typer.echo(f"Recorded {run.kind} evidence {evidence.id} ({run.result}).")


def _print(evidence: Evidence) -> None:
    typer.echo(
        f"{evidence.id}  {evidence.recorded_at:%Y-%m-%d %H:%M:%S}  {evidence.kind:<16} "
        f"{evidence.name:<24} {evidence.result:<12} "
        f"{evidence.instance_profile}/{evidence.instance_name}"
    )


@evidence_app.command("record")
def evidence_record(
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(EVIDENCE_KINDS)}.")],
    name: Annotated[str, typer.Option(help="What ran, such as `lint` or `nightly-backup`.")],
    result: Annotated[str, typer.Option(help=f"One of: {', '.join(EVIDENCE_RESULTS)}.")],
    details_file: Annotated[
        str | None, typer.Option(help="A JSON object of what the run found (`-`: stdin).")
    ] = None,
    started_at: Annotated[str | None, typer.Option(help="ISO 8601 [default: finished]")] = None,
    finished_at: Annotated[str | None, typer.Option(help="ISO 8601 [default: now]")] = None,
) -> None:
    """Record a run made elsewhere (a CI gate, a drill by hand), on this instance; audited.
    Exits 1 when it is refused (an unknown kind, details over 16 KiB)."""
    from darvaza.operations.service import Run, record_evidence
    from darvaza.security.caller import Actor

    details = _details_from(details_file)
    run = Run(
        kind, name, result, details,
        started_at=_time(started_at, "--started-at"),
        finished_at=_time(finished_at, "--finished-at"),
    )  # fmt: skip
    with _database() as (settings, db):
        _print(record_evidence(db, settings, Actor.system(CLI_ACTOR), run))


@evidence_app.command("list")
def evidence_list(
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    name: Annotated[str | None, typer.Option(help="Only this name.")] = None,
    result: Annotated[str | None, typer.Option(help="Only this result.")] = None,
    instance: Annotated[str | None, typer.Option(help="Only this instance name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List evidence, newest first: id, when, kind, name, result, instance."""
    from darvaza.operations.service import EvidenceFilter, list_evidence

    where = EvidenceFilter(kind=kind, name=name, result=result, instance_name=instance)
    with _database() as (_, db):
        found = list_evidence(db, where, limit=limit).items
    for evidence in found:
        _print(evidence)
    if not found:
        typer.echo("No evidence.")


@evidence_app.command("show")
def evidence_show(evidence_id: Annotated[str, typer.Argument(help="The evidence's id.")]) -> None:
    """One record in full, as JSON."""
    import uuid

    from darvaza.operations.schemas import EvidenceOut
    from darvaza.operations.service import get_evidence

    try:
        wanted = uuid.UUID(evidence_id)
    except ValueError:
        _fail(f"Not an evidence id: {evidence_id}", code=2)
    with _database() as (_, db):
        shown = EvidenceOut.of(get_evidence(db, wanted))
    typer.echo(shown.model_dump_json(indent=2))
