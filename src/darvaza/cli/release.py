"""`darvaza release dry-run|rollback`: a release rehearsed on a copy of the live data, and
the schema taken back to an earlier revision (see `darvaza.operations.release`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from darvaza.cli.backup import IdentityOption, _progress, with_identity
from darvaza.cli.common import _database, _fail

release_app = typer.Typer(help="Rehearse a release; roll one back.", no_args_is_help=True)


@release_app.command("rollback")
def release_rollback(
    to: Annotated[
        str, typer.Option("--to", metavar="REVISION", help="The revision to go back to.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before downgrading.")] = False,
) -> None:
    """Show what going back to REVISION undoes. When every migration on the way is an
    expand one, downgrade (after asking); otherwise name the restore point to restore and
    how. Records `rollback` evidence; exit 1 unless the database is now at REVISION."""
    from darvaza.cli.evidence import record_own
    from darvaza.clock import utcnow
    from darvaza.operations.service import BackupError, plan_rollback, roll_back

    started = utcnow()
    with _database() as (settings, db):
        try:
            plan = plan_rollback(db, settings, to)
        except BackupError as exc:
            _fail(str(exc))
        for line in plan.describe():
            typer.echo(line)
        if not plan.reversible:
            record_own(settings, db, plan.run(
                result="failed", started_at=started,
                problems=["a contract or irreversible migration is on the way"],
            ))  # fmt: skip
            raise typer.Exit(1)
        if not yes and not typer.confirm(f"Downgrade to {to}?", default=False):
            _fail("Nothing changed.")
        try:
            roll_back(db, plan)
        except BackupError as exc:
            record_own(settings, db, plan.run(result="failed", started_at=started,
                                              problems=[str(exc)[:500]]))  # fmt: skip
            _fail(str(exc))
        record_own(settings, db, plan.run(result="passed", started_at=started, problems=[]))
    typer.echo(
        f"The database is at {to}. Start the build that expects it, then run "
        "darvaza smoke all against it."
    )


@release_app.command("dry-run")
def release_dry_run(
    backup: Annotated[
        str | None,
        typer.Option("--backup", metavar="ID|PATH", help="Rehearse on this restore point."),
    ] = None,
    down_to: Annotated[
        str | None,
        typer.Option(
            "--down-to",
            metavar="REVISION",
            help="The revision to go back to (default: the copy's own, or the one before "
            "the newest when it is at the code's head).",
        ),
    ] = None,
    max_wait: Annotated[
        float, typer.Option(help="content-download's longest wait for a link to expire.")
    ] = 30,
    identity_file: IdentityOption = None,
) -> None:
    """On a copy restored from a restore point (new, or --backup): upgrade to this code's
    head and run every smoke check; downgrade to the revision the live data was at (or
    --down-to) and check the rows and the audit chain held; upgrade again and run every
    smoke check. Records `release_dry_run` evidence; exit 1 unless it passed."""
    from darvaza.cli.evidence import record_own
    from darvaza.clock import utcnow
    from darvaza.operations.service import BackupError, find_backup, rehearse_release

    started = utcnow()
    with _database() as (live_settings, db):
        settings = with_identity(live_settings, identity_file)
        try:
            point = find_backup(Path(settings.backup_dir), backup) if backup else None
        except BackupError as exc:
            _fail(str(exc))
        rehearsal = rehearse_release(
            db, settings, point=point, down_to=down_to, smoke_wait_seconds=max_wait,
            progress=_progress("release"),
        )  # fmt: skip
        record_own(settings, db, rehearsal.run(started_at=started))
    for step in rehearsal.steps:
        typer.echo(f"  {step['step']}: {step['seconds']} s")
    for problem in rehearsal.problems:
        typer.echo(f"  PROBLEM: {problem}")
    typer.echo(f"Release dry-run of {rehearsal.point}: {rehearsal.result}")
    if rehearsal.result != "passed":
        raise typer.Exit(1)
