"""`darvaza status report`: the local status page, written from the instance's database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from darvaza.cli.common import _database, _fail

status_app = typer.Typer(help="The instance's status, written down.", no_args_is_help=True)


@status_app.command("report")
def status_report(
    output: Annotated[
        str,
        typer.Option(help="Where to write it; `-` prints it instead."),
    ] = "docs/RUNTIME/LOCAL_STATUS.md",
) -> None:
    """Write what this instance is and how it is (build, schema, status, each check's
    freshness, unresolved findings, the latest evidence of each kind, workers and queue),
    read from its database now. Exits 0 whatever the status: the page says it."""
    from darvaza.assembly import CHECKS
    from darvaza.operations.status import read_status, render_status

    with _database() as (settings, db):
        text = render_status(read_status(db, settings, CHECKS))
    write_page(output, text)


def write_page(output: str, text: str) -> None:
    """Write a page whole (a reader never sees half of one); `-` prints it instead."""
    if output == "-":
        typer.echo(text, nl=False)
        return
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        _fail(f"Cannot write {path}: {exc.strerror}")
    typer.echo(f"Wrote {path}.", err=True)
