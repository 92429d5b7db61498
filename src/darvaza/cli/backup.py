"""`darvaza backup create|list|verify`: restore points of the database, the files and the
configuration (see `darvaza.operations.backups`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.cli.common import CLI_ACTOR, _database, _fail

if TYPE_CHECKING:
    from darvaza.config import Settings
    from darvaza.operations.service import Progress, RestorePoint, Run, Verification

backup_app = typer.Typer(help="Restore points: create, list, verify.", no_args_is_help=True)

ToOption = Annotated[
    Path | None,
    typer.Option("--to", help="The folder of restore points.", show_default="$DARVAZA_BACKUP_DIR"),
]


IdentityOption = Annotated[
    Path | None,
    typer.Option(
        "--identity-file",
        help="A file holding the age identity that opens encrypted restore points.",
        show_default="$DARVAZA_BACKUP_AGE_IDENTITY",
    ),
]


def with_identity(settings: Settings, identity_file: Path | None) -> Settings:
    """The settings, with the identity from `--identity-file` when one was given."""
    if identity_file is None:
        return settings
    from pydantic import SecretStr

    from darvaza.config.age_keys import AgeKeyError, parse_identities

    try:
        value = identity_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{identity_file} cannot be read: {getattr(exc, 'strerror', None) or exc}.")
    try:
        parse_identities(value)
    except AgeKeyError as exc:
        _fail(f"{identity_file}: {exc}.")
    return settings.model_copy(update={"backup_age_identity": SecretStr(value)})


def _progress(prefix: str = "backup") -> Progress:
    """How the work goes: on a terminal, a line per step and a bar for each step that
    moves bytes; otherwise plain lines a log keeps (no bar drawn into a file)."""
    from contextlib import contextmanager

    from rich.console import Console

    from darvaza.operations.service import Progress

    console = Console(stderr=True)
    if not console.is_terminal:
        return Progress(lambda line: print(f"{prefix}: {line}", file=sys.stderr, flush=True))

    class Bars(Progress):
        @contextmanager
        def meter(self, what: str, total: int) -> Iterator[Callable[[int], None]]:
            from rich import progress as rich

            columns = (
                rich.TextColumn(f"{prefix}: {what}"), rich.BarColumn(),
                rich.TaskProgressColumn(), rich.DownloadColumn(), rich.TransferSpeedColumn(),
                rich.TimeRemainingColumn(),
            )  # fmt: skip
            with rich.Progress(*columns, console=console) as bars:
                task = bars.add_task(what, total=total or 1)
                yield lambda count: bars.advance(task, count)
                bars.update(task, completed=total or 1)

    return Bars(lambda line: console.print(f"{prefix}: {line}", markup=False, highlight=False))


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def _print_verdict(report: Verification, last: str) -> None:
    """What was checked, what could not be, what failed; exit 1 unless it passed."""
    for prefix, lines in (("ok", report.checked), ("not checked", report.unchecked),
                          ("PROBLEM", report.problems)):  # fmt: skip
        for line in lines:
            typer.echo(f"  {prefix}: {line}")
    typer.echo(last)
    if report.result != "passed":
        raise typer.Exit(1)


@backup_app.command("create")
def backup_create(
    label: Annotated[
        str | None, typer.Option(help="A name to tell it by (A-Z, 0-9, . _ -).")
    ] = None,
    to: ToOption = None,
) -> None:
    """Write one restore point (database, files, configuration, manifest) while Darvaza
    keeps running, and record it as `backup` evidence (`inconclusive` when an item's
    file was missing or differed from its item)."""
    from darvaza.cli.evidence import record_own
    from darvaza.clock import utcnow
    from darvaza.operations.service import (
        BackupError,
        backup_run,
        create_backup,
        failed_backup_run,
    )

    started = utcnow()
    with _database() as (settings, db):
        folder = to or Path(settings.backup_dir)
        try:
            point = create_backup(db, settings, folder=folder, label=label, progress=_progress())
        except BackupError as exc:
            record_own(settings, db, failed_backup_run(exc, started_at=started))
            _fail(str(exc))
        record_own(settings, db, backup_run(point, started_at=started))
    problems = point.manifest["file_problems"]
    seconds = point.manifest["seconds"]
    typer.echo(f"Restore point {point.id}: {_size(point.size)} in {seconds} s, {point.path}")
    for problem in problems:
        typer.echo(f"  warning: {problem}")


@backup_app.command("list")
def backup_list(
    to: ToOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The whole restore points in the folder, newest first."""
    from darvaza.config import load_settings
    from darvaza.operations.service import list_backups

    folder = to or Path(load_settings().backup_dir)
    points = list_backups(folder)
    for point in points:
        if as_json:
            typer.echo(json.dumps({
                "id": point.id, "created_at": point.manifest["created_at"], "label": point.label,
                "engine": point.engine, "bytes": point.size,
                "migration_head": point.manifest["migration_head"], "path": str(point.path),
            }))  # fmt: skip
        else:
            typer.echo(
                f"{point.id}  {point.engine:<10} {_size(point.size):>10}  "
                f"{point.manifest['migration_head'] or '-'}  {point.label or ''}"
            )
    if not points and not as_json:
        typer.echo(f"No restore points in {folder}.")


@backup_app.command("verify")
def backup_verify(
    point_ref: Annotated[str, typer.Argument(metavar="ID|PATH", help="A restore point.")],
    deep: Annotated[
        bool,
        typer.Option(
            help="Also restore the database into a scratch target and check its schema, "
            "row counts and audit chain, and every item's file."
        ),
    ] = False,
    identity_file: IdentityOption = None,
    to: ToOption = None,
) -> None:
    """Check a restore point against its manifest (no key needed); record the verdict as
    `backup_verify` evidence. Exit 1 unless it passed (`inconclusive` too: a deep check
    of an encrypted restore point without its identity)."""
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow
    from darvaza.operations.service import BackupError, find_backup, verify_backup

    started = utcnow()
    with _database() as (live_settings, db):
        settings = with_identity(live_settings, identity_file)
        folder = to or Path(settings.backup_dir)
        name = "deep" if deep else "parts"
        try:
            point = find_backup(folder, point_ref)
        except BackupError as exc:
            details = {"point": point_ref, "problems": [str(exc)]}
            record_own_run(
                settings, db, "backup_verify", name, "failed", details, started_at=started
            )
            _fail(str(exc))
        report = verify_backup(point, settings, deep=deep, progress=_progress())
        details = {
            "point": point.id, "problems": report.problems[:50],
            "unchecked": report.unchecked, "checked": report.checked,
        }  # fmt: skip
        record_own_run(
            settings, db, "backup_verify", name, report.result, details, started_at=started
        )
    _print_verdict(report, f"{point.id}: {report.result}")


def _record_on_live(settings: Settings, run: Run) -> None:
    """Recorded where the settings point: the live instance, whose incident it serves
    (the database just restored, when it was restored over the live one)."""
    from darvaza.cli.evidence import record_own
    from darvaza.db import Database, DatabaseUnusable

    try:
        live = Database(settings.database_url)
    except DatabaseUnusable as exc:
        typer.echo(f"note: no {run.kind} evidence recorded: {exc}", err=True)
        return
    try:
        record_own(settings, live, run)
    finally:
        live.dispose()


@backup_app.command("restore")
def backup_restore(
    point_ref: Annotated[str, typer.Argument(metavar="ID|PATH", help="A restore point.")],
    database: Annotated[str, typer.Option("--database", help="The database URL to restore into.")],
    storage: Annotated[
        Path, typer.Option("--storage", help="The folder to restore the files into.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before replacing.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a target that is not empty (a safety restore point of it is taken "
            "first); needed for the live database, with the server stopped.",
        ),
    ] = False,
    identity_file: IdentityOption = None,
    to: ToOption = None,
) -> None:
    """Show the plan (what is replaced, sizes, the restore point's age), ask, then restore
    the database and the files and run the deep checks on the result. Exit 1 when refused
    or when the result does not check out."""
    from darvaza.clock import utcnow
    from darvaza.config import load_settings
    from darvaza.operations.service import (
        BackupError,
        find_backup,
        plan_restore,
        restore_backup,
        restore_run,
    )
    from darvaza.security.caller import Actor

    settings = with_identity(load_settings(), identity_file)
    folder = to or Path(settings.backup_dir)
    try:
        point = find_backup(folder, point_ref)
        plan = plan_restore(point, settings, database_url=database, storage=storage)
    except BackupError as exc:
        _fail(str(exc))
    for line in plan.describe():
        typer.echo(line)
    if not yes and not typer.confirm("Restore?", default=False):
        _fail("Nothing changed.")
    started = utcnow()
    outcome: Verification | BackupError
    try:
        outcome, safety = restore_backup(
            plan, settings, Actor.system(CLI_ACTOR), force=force, progress=_progress()
        )
    except BackupError as exc:
        outcome, safety = exc, None
    _record_on_live(settings, restore_run(plan, outcome, safety, started_at=started))
    if isinstance(outcome, BackupError):
        _fail(str(outcome))
    if safety is not None:
        typer.echo(f"Safety restore point of the target: {safety.id}")
    _print_verdict(outcome, f"Restored {point.id}: {outcome.result}")


drill_app = typer.Typer(help="Rehearse a recovery.", no_args_is_help=True)


def _named_point(folder: Path, backup: str | None) -> RestorePoint | None:
    """The restore point `--backup` names (None when it names none); a clear refusal when
    it names nothing there."""
    from darvaza.operations.service import BackupError, find_backup

    try:
        return find_backup(folder, backup) if backup else None
    except BackupError as exc:
        _fail(str(exc))


@drill_app.command("restore")
def drill_restore(
    backup: Annotated[
        str | None,
        typer.Option(
            "--backup", metavar="ID|PATH", help="Drill this restore point, not a new one."
        ),
    ] = None,
    max_wait: Annotated[
        float, typer.Option(help="content-download's longest wait for a link to expire.")
    ] = 30,
    identity_file: IdentityOption = None,
    to: ToOption = None,
) -> None:
    """Take a restore point (or use --backup), restore it into a scratch target, migrate,
    deep-check, serve it on a free port, run every smoke check against it, and record a
    `restore_drill` evidence with the RTO and RPO. Exit 1 unless it passed."""
    from darvaza.cli.evidence import record_own
    from darvaza.clock import utcnow
    from darvaza.operations.service import run_restore_drill

    started = utcnow()
    with _database() as (live_settings, db):
        settings = with_identity(live_settings, identity_file)
        point = _named_point(to or Path(settings.backup_dir), backup)
        drill = run_restore_drill(
            db, settings, point=point, smoke_wait_seconds=max_wait, progress=_progress("drill")
        )
        record_own(settings, db, drill.run(started_at=started))
    for line in drill.problems:
        typer.echo(f"  PROBLEM: {line}")
    typer.echo(
        f"Drill of {drill.point}: {drill.result}; RTO {drill.rto_seconds} s, "
        f"RPO {drill.rpo_seconds} s"
    )
    if drill.result != "passed":
        raise typer.Exit(1)


@drill_app.command("incident")
def drill_incident(
    backup: Annotated[
        str | None,
        typer.Option("--backup", metavar="ID|PATH", help="Drill on this restore point's data."),
    ] = None,
    identity_file: IdentityOption = None,
    to: ToOption = None,
) -> None:
    """Rehearse an incident on scratch copies of the live data: a rollback one migration
    back and up again, then a test SEV3 declared, linked to the finding its overdue
    update raises, updated (internal and public), mitigated by that rollback, resolved
    and reviewed. Records `incident_drill` evidence; exit 1 unless it passed."""
    from darvaza.cli.evidence import record_own
    from darvaza.clock import utcnow
    from darvaza.incidents.drill import run_incident_drill

    started = utcnow()
    with _database() as (live_settings, db):
        settings = with_identity(live_settings, identity_file)
        point = _named_point(to or Path(settings.backup_dir), backup)
        drill = run_incident_drill(db, settings, point=point, progress=_progress("drill"))
        record_own(settings, db, drill.run(started_at=started))
    for line in drill.problems:
        typer.echo(f"  PROBLEM: {line}")
    took = ", ".join(f"{name} {seconds / 60:.0f} min" for name, seconds in
                     drill.durations.items() if seconds is not None)  # fmt: skip
    typer.echo(f"Incident drill on {drill.point}: {drill.result}" + (f"; {took}" if took else ""))
    if drill.result != "passed":
        raise typer.Exit(1)


@backup_app.command("keygen")
def backup_keygen(
    out: Annotated[
        Path, typer.Option("--out", help="A new file for the identity (the secret half).")
    ],
) -> None:
    """Make an age key pair to encrypt restore points: the identity goes into a new file
    only its owner can read, the recipient (public) is printed to set as
    DARVAZA_BACKUP_AGE_RECIPIENTS. Keep the identity off the server, with a copy apart."""
    import os

    from darvaza.clock import utcnow
    from darvaza.operations.service import new_identity

    identity, recipient = new_identity()
    try:
        handle = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"{out} already exists: a key is never overwritten.")
    except OSError as exc:
        _fail(f"{out} cannot be written: {exc.strerror}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(f"# created: {utcnow():%Y-%m-%dT%H:%M:%SZ}\n# public key: {recipient}\n"
                     f"{identity}\n")  # fmt: skip
    typer.echo(f"Identity written to {out}: it opens every restore point sealed to it.")
    typer.echo(f"DARVAZA_BACKUP_AGE_RECIPIENTS={recipient}")


@backup_app.command("prune")
def backup_prune(
    keep_daily: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Days to keep the newest restore point of.",
            show_default="$DARVAZA_BACKUP_KEEP_DAILY, else 7",
        ),
    ] = None,
    keep_weekly: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="ISO weeks to keep the newest restore point of.",
            show_default="$DARVAZA_BACKUP_KEEP_WEEKLY, else 4",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")
    ] = False,
    to: ToOption = None,
) -> None:
    """Delete the restore points retention does not keep (the newest always stays), and
    partial folders that backups which died left behind."""
    from darvaza.config import load_settings
    from darvaza.operations.service import prune_backups

    settings = load_settings()
    pruning = prune_backups(
        to or Path(settings.backup_dir),
        daily=settings.backup_keep_daily if keep_daily is None else keep_daily,
        weekly=settings.backup_keep_weekly if keep_weekly is None else keep_weekly,
        dry_run=dry_run,
    )
    for point_id, reasons in sorted(pruning.kept.items(), reverse=True):
        typer.echo(f"keep    {point_id}  ({', '.join(reasons)})")
    verb = "would remove" if dry_run else "removed"
    for name in pruning.removed:
        typer.echo(f"{verb}  {name}")
