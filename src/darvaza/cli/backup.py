"""`darvaza backup create|list|verify`: restore points of the database, the files and the
configuration (see `darvaza.operations.backups`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.cli.common import _database, _fail

if TYPE_CHECKING:
    from darvaza.operations.service import Progress

backup_app = typer.Typer(help="Restore points: create, list, verify.", no_args_is_help=True)

ToOption = Annotated[
    Path | None,
    typer.Option("--to", help="The folder of restore points.", show_default="$DARVAZA_BACKUP_DIR"),
]


def _progress() -> Progress:
    """Lines as the work goes: a terminal sees them as they come, a log keeps them."""
    stream = sys.stderr

    def say(line: str) -> None:
        print(f"backup: {line}", file=stream, flush=True)

    return say


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


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
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow
    from darvaza.operations.service import BackupError, create_backup

    started = utcnow()
    with _database() as (settings, db):
        folder = to or Path(settings.backup_dir)
        try:
            point = create_backup(db, settings, folder=folder, label=label, progress=_progress())
        except BackupError as exc:
            record_own_run(
                settings, db, "backup", "restore_point", "failed", {"error": str(exc)},
                started_at=started,
            )  # fmt: skip
            _fail(str(exc))
        problems = point.manifest["file_problems"]
        details = {
            "id": point.id, "path": str(point.path), "label": label, "bytes": point.size,
            "seconds": point.manifest["seconds"], "engine": point.engine,
            "files": len(point.manifest["files"]), "file_problems": problems[:20],
        }  # fmt: skip
        result = "inconclusive" if problems else "passed"
        record_own_run(settings, db, "backup", "restore_point", result, details, started_at=started)
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
    to: ToOption = None,
) -> None:
    """Check a restore point against its manifest; record the verdict as `backup_verify`
    evidence. Exit 1 unless it passed."""
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow
    from darvaza.operations.service import BackupError, find_backup, verify_backup

    started = utcnow()
    with _database() as (settings, db):
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
        report = verify_backup(point, settings, deep=deep)
        details = {
            "point": point.id, "problems": report.problems[:50],
            "unchecked": report.unchecked, "checked": report.checked,
        }  # fmt: skip
        record_own_run(
            settings, db, "backup_verify", name, report.result, details, started_at=started
        )
    for line in report.checked:
        typer.echo(f"  ok: {line}")
    for line in report.unchecked:
        typer.echo(f"  not checked: {line}")
    for line in report.problems:
        typer.echo(f"  PROBLEM: {line}")
    typer.echo(f"{point.id}: {report.result}")
    if report.result != "passed":
        raise typer.Exit(1)
