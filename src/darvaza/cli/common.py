"""What every command module shares: the root app, settings, the database, failing."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from darvaza import __version__
from darvaza.config import Settings, SettingsError, load_settings, start_warnings
from darvaza.errors import DarvazaError

if TYPE_CHECKING:
    from darvaza.db import Database

app = typer.Typer(
    name="darvaza",
    help="Darvaza: a self-hosted membership platform that runs its own operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CLI_ACTOR = "cli"
PASSWORD_VARIABLE = "DARVAZA_PASSWORD"


def _utc(moment: datetime | None) -> datetime | None:
    """A time typed without a zone is UTC."""
    return moment.replace(tzinfo=moment.tzinfo or UTC) if moment else None


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        _fail("Settings cannot be read:\n" + "\n".join(f"  - {p}" for p in exc.problems), 2)


def _warn(settings: Settings, port: int) -> None:
    for warning in start_warnings(settings, port):
        typer.echo(f"warning: {warning}", err=True)


def _start_problems(settings: Settings) -> list[str]:
    """What refuses a start: unsafe settings for the profile, and an alert routes file that
    cannot be used (in any profile: alerts nobody receives are worse than none)."""
    from darvaza.ops.alert_routes import AlertRoutesError, load_alert_routes

    problems = settings.problems()
    try:
        load_alert_routes(settings)
    except AlertRoutesError as exc:
        problems.append(f"the alert routes file: {exc}")
    return problems


def _refuse_unsafe(settings: Settings) -> None:
    problems = _start_problems(settings)
    if problems:
        _fail(
            f"Refusing to start in the {settings.profile.value} profile:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _version_line() -> str:
    return f"darvaza {__version__} (python {platform.python_version()})"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(_version_line())
        raise typer.Exit


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Darvaza: a self-hosted membership platform that runs its own operations."""


@contextmanager
def _database(*, warn: bool = False) -> Iterator[tuple[Settings, Database]]:
    from darvaza.db import Database
    from darvaza.revisions import migration_status

    settings = _settings()
    if warn:
        _warn(settings, settings.port)
    db = Database.from_settings(settings)
    try:
        status = migration_status(db)
        if status.pending:
            _fail(f"{status.describe()}. Run `darvaza migrate` first.")
        yield settings, db
    except DarvazaError as exc:
        _fail(f"Refused: {exc.message}")
    finally:
        db.dispose()


def _new_password() -> str:
    """From DARVAZA_PASSWORD, or typed at a prompt: never a command-line argument, which
    would land in shell history and the process list."""
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        return password
    if not sys.stdin.isatty():
        _fail(f"Set {PASSWORD_VARIABLE} or run this in a terminal to type the password.")
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(password)
