"""`darvaza release dry-run|rollback`: a release rehearsed on a copy of the live data, and
the schema taken back to an earlier revision (see `darvaza.operations.release`)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.cli.backup import IdentityOption, _progress, with_identity
from darvaza.cli.common import _database, _fail
from darvaza.cli.smoke import BaseUrl

if TYPE_CHECKING:
    from datetime import datetime

    from darvaza.config import Settings
    from darvaza.db import Database
    from darvaza.operations.service import RollbackPlan

release_app = typer.Typer(help="Rehearse a release; roll one back.", no_args_is_help=True)

SmokeToken = Annotated[
    str | None,
    typer.Option(
        "--admin-token", envvar="ADMIN_TOKEN",
        help="A platform admin's API token (or $ADMIN_TOKEN): with it, every smoke check "
        "runs against the instance once the earlier build serves it.",
    ),
]  # fmt: skip


DownTo = Annotated[
    str | None,
    typer.Option(
        "--down-to", metavar="REVISION",
        help="The revision to go back to (default: the copy's own, or the one before "
        "the newest when it is at the code's head).",
    ),
]  # fmt: skip
EarlierBuild = Annotated[
    str | None,
    typer.Option(
        "--earlier-build", metavar="COMMAND",
        help="The build in service now, as the command that runs its CLI (such as "
        "/opt/darvaza-previous/bin/darvaza): it serves the downgraded copy and runs "
        "its own smoke checks there. Without it, what the downgrade left is checked "
        "by its rows only.",
    ),
]  # fmt: skip


@release_app.command("rollback")
def release_rollback(
    to: Annotated[
        str, typer.Option("--to", metavar="REVISION", help="The revision to go back to.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before downgrading.")] = False,
    admin_token: SmokeToken = None,
    base_url: BaseUrl = None,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the earlier build to be ready.")
    ] = 300,
    max_wait: Annotated[
        float, typer.Option(help="content-download: seconds to wait for a token to expire.")
    ] = 30,
) -> None:
    """Show what going back to REVISION undoes. When every migration on the way is an
    expand one, downgrade (after asking); otherwise name the restore point to restore and
    how. Then, with an admin token, wait until the earlier build serves the instance and
    run every smoke check against it. Records `rollback` evidence: passed only with green
    smoke checks, inconclusive without them. Exit 1 when the database is not at REVISION
    or a smoke check failed. REVISION may be the current one: the earlier build alone."""
    from darvaza.cli.evidence import record_own
    from darvaza.clock import utcnow
    from darvaza.operations.service import BackupError, plan_rollback, smoke_rolled_back

    started = utcnow()
    with _database() as (settings, db):
        try:
            plan = plan_rollback(db, settings, to)
        except BackupError as exc:
            _fail(str(exc))
        for line in plan.describe():
            typer.echo(line)
        _downgrade(settings, db, plan, to, yes=yes, started=started)
        if not admin_token:
            record_own(settings, db, plan.run(
                result="inconclusive", started_at=started,
                problems=["no smoke check ran: no admin token was given"],
            ))  # fmt: skip
            typer.echo(
                f"Not proven yet: start the build that expects {to}, then run this again "
                "with --admin-token (nothing more is undone) to smoke-check it."
            )
            return
        url = base_url or settings.public_url
        typer.echo(f"Waiting for the build that expects {to} to be ready at {url} …")
        smoke = smoke_rolled_back(
            db, plan, url, admin_token, ready_seconds=ready_timeout, max_wait_seconds=max_wait
        )
        for name, result in smoke.results.items():
            typer.echo(f"smoke {name:<20} {result}")
        failed = bool(smoke.problems) or not smoke.results
        record_own(settings, db, plan.run(
            result="failed" if failed else "passed", started_at=started, problems=[],
            smoke=smoke,
        ))  # fmt: skip
    if failed:
        _fail("\n".join(smoke.problems))
    typer.echo(f"Rolled back to {to}; every smoke check passed.")


def _downgrade(
    settings: Settings, db: Database, plan: RollbackPlan, to: str, *, yes: bool, started: datetime
) -> None:
    """Undo the migrations on the way to `to`, after asking; a contract migration on the
    way, or a downgrade that fails, is recorded as failed `rollback` evidence."""
    from darvaza.cli.evidence import record_own
    from darvaza.operations.service import BackupError, roll_back

    if not plan.reversible:
        record_own(settings, db, plan.run(
            result="failed", started_at=started,
            problems=["a contract or irreversible migration is on the way"],
        ))  # fmt: skip
        raise typer.Exit(1)
    if not plan.undone:
        return
    if not yes and not typer.confirm(f"Downgrade to {to}?", default=False):
        _fail("Nothing changed.")
    try:
        roll_back(db, plan)
    except BackupError as exc:
        record_own(settings, db, plan.run(result="failed", started_at=started,
                                          problems=[str(exc)[:500]]))  # fmt: skip
        _fail(str(exc))
    typer.echo(f"The database is at {to}.")


@release_app.command("dry-run")
def release_dry_run(
    backup: Annotated[
        str | None,
        typer.Option("--backup", metavar="ID|PATH", help="Rehearse on this restore point."),
    ] = None,
    down_to: DownTo = None,
    max_wait: Annotated[
        float, typer.Option(help="content-download's longest wait for a link to expire.")
    ] = 30,
    identity_file: IdentityOption = None,
    earlier_build: EarlierBuild = None,
) -> None:
    """On a copy restored from a restore point (new, or --backup): upgrade to this code's
    head and run every smoke check; downgrade to the revision the live data was at (or
    --down-to) and check the rows held (and, with --earlier-build, that build's smoke
    checks against the copy); upgrade again and run every smoke check. Records
    `release_dry_run` evidence; exit 1 unless it passed."""
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
            earlier_build=shlex.split(earlier_build) if earlier_build else None,
        )  # fmt: skip
        record_own(settings, db, rehearsal.run(started_at=started))
    for step in rehearsal.steps:
        typer.echo(f"  {step['step']}: {step['seconds']} s")
    for problem in rehearsal.problems:
        typer.echo(f"  PROBLEM: {problem}")
    if rehearsal.earlier_build is None:
        typer.echo("  note: no --earlier-build: the build in service was not tried on the "
                   "downgraded copy")  # fmt: skip
    typer.echo(f"Release dry-run of {rehearsal.point}: {rehearsal.result}")
    if rehearsal.result != "passed":
        raise typer.Exit(1)
