"""The `darvaza` command. Each subcommand is a thin shell around a domain service.

Exit codes: 0 success, 1 a check found a problem (or the server refused to start),
2 the settings themselves cannot be read.
"""

from __future__ import annotations

import platform
from typing import Annotated, NoReturn

import typer

from darvaza import __version__
from darvaza.config import Settings, SettingsError, load_settings, unknown_environment_names

app = typer.Typer(
    name="darvaza",
    help="Darvaza: a self-hosted membership platform that runs its own operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the settings in force.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(audit_app, name="audit")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail("Settings cannot be read:\n" + "\n".join(f"  - {p}" for p in exc.problems), 2)


@app.command()
def version() -> None:
    """Print Darvaza's version."""
    typer.echo(f"darvaza {__version__} (python {platform.python_version()})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the API (and, in `local`, migrate the database first).

    Outside `local` it never migrates by itself: it refuses to start while a migration is
    pending or a setting is unsafe, and names every problem.
    """
    import uvicorn

    from darvaza.app import create_app
    from darvaza.db import Database
    from darvaza.logs import configure_logging, get_logger
    from darvaza.migrate import migration_status, upgrade_to_head

    settings = _settings()
    problems = settings.problems()
    if problems:
        _fail(
            f"Refusing to start in the {settings.profile.value} profile:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    configure_logging(settings.log_level)
    log = get_logger("darvaza.serve")
    db = Database.from_settings(settings)
    try:
        if settings.is_local:
            upgrade_to_head(db)
        else:
            status = migration_status(db)
            if status.pending:
                _fail(f"Refusing to start: {status.describe()}. Run `darvaza migrate` first.")
    finally:
        db.dispose()
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    log.info("starting", profile=settings.profile.value, host=host, port=port, version=__version__)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # logging is already configured: JSON lines
        access_log=False,  # the middleware writes one line per request
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


@app.command()
def migrate(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Change nothing; exit 1 if a migration is pending or the models differ "
            "from the migrations.",
        ),
    ] = False,
) -> None:
    """Upgrade the database to the newest schema."""
    from darvaza.db import Database
    from darvaza.migrate import migration_status, model_differences, upgrade_to_head

    db = Database.from_settings(_settings())
    try:
        status = migration_status(db)
        if not check:
            upgrade_to_head(db)
            typer.echo(f"Migrated: {migration_status(db).describe()}")
            return
        if status.pending:
            _fail(f"Not current: {status.describe()}.")
        differences = model_differences(db)
        if differences:
            _fail(
                "Not current: the models differ from the migrations (write a migration):\n"
                + "\n".join(f"  - {d}" for d in differences)
            )
        typer.echo(f"Current: {status.describe()}; models match the migrations.")
    finally:
        db.dispose()


@config_app.command("check")
def config_check() -> None:
    """Print the settings in force, secrets masked; exit 1 if any is unsafe."""
    settings = _settings()
    for name, value in settings.masked().items():
        typer.echo(f"{name} = {value}")
    for name in unknown_environment_names():
        typer.echo(f"warning: {name} is set but is not a Darvaza setting (a typo?)", err=True)
    problems = settings.problems()
    if problems:
        _fail(
            f"\n{len(problems)} problem(s) for the {settings.profile.value} profile:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    typer.echo(f"\nNo problems for the {settings.profile.value} profile.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first broken event."""
    from darvaza.audit.service import verify_chain
    from darvaza.db import Database
    from darvaza.migrate import migration_status

    db = Database.from_settings(_settings())
    try:
        status = migration_status(db)
        if status.pending:
            _fail(f"Cannot verify: {status.describe()}. Run `darvaza migrate` first.")
        report = verify_chain(db)
    finally:
        db.dispose()
    if not report.ok:
        _fail(
            f"Audit chain BROKEN at event {report.first_broken_seq}: {report.problem}.\n"
            f"Events verified before it: {report.events_checked}."
        )
    typer.echo(
        f"Audit chain intact: {report.events_checked} events, "
        f"head {report.head_seq} {report.head_hash}"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
