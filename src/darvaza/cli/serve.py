"""Running Darvaza: the version, `serve`, `worker`, `migrate`, `config check`, `db grants`."""

from __future__ import annotations

import errno
import gc
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from darvaza import __version__
from darvaza.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from darvaza.db import Database
    from darvaza.revisions import MigrationStatus

from darvaza.cli.common import (
    _database,
    _fail,
    _refuse_unsafe,
    _settings,
    _start_problems,
    _version_line,
    _warn,
    app,
)

config_app = typer.Typer(help="Inspect the settings in force.", no_args_is_help=True)
db_app = typer.Typer(help="The database's roles.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print Darvaza's version."""
    typer.echo(_version_line())


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on.", show_default="$DARVAZA_HOST, else 127.0.0.1"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port to listen on.", show_default="$DARVAZA_PORT, else 4000"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="API processes on this port (one per core is a good start).",
            show_default="$DARVAZA_SERVE_WORKERS, else 1",
        ),
    ] = None,
) -> None:
    """Serve the API (and, in `local`, migrate the database first).

    Outside `local` it never migrates by itself: it refuses to start while a migration is
    pending or a setting is unsafe, and names every problem. With several workers, each
    is a process of its own on the same port; the in-process job worker (`local`, or
    DARVAZA_WORKER_IN_PROCESS) then runs once, in the process that watches them.
    """
    from darvaza.db import Database
    from darvaza.logs import configure_logging, get_logger
    from darvaza.migrate import upgrade_to_head
    from darvaza.revisions import migration_status

    # The address given here is the address served on: in `local`, links follow it too.
    settings = _settings(host=host, port=port, serve_workers=workers)
    _warn(settings, settings.port)
    _refuse_unsafe(settings)
    listening = _listen(settings.host, settings.port)
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
    log.info(
        "starting", profile=settings.profile.value, host=settings.host, port=settings.port,
        workers=settings.serve_workers, public_url=settings.public_url, version=__version__,
    )  # fmt: skip
    _run_api(settings, listening)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts: a busy port is one line, exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol named: asyncio turns Nagle off (TCP_NODELAY) only on connections whose
    # socket says TCP, and without that every keep-alive request waited 40 ms for the
    # client's delayed ACK between a response's two writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            _fail(
                f"Port {port} on {host} is in use: stop what serves there, or choose another "
                "port (DARVAZA_PORT or --port)."
            )
        _fail(f"Cannot listen on {host}:{port}: {exc.strerror}.")
    sock.set_inheritable(True)  # the API processes share it
    return sock


def _run_api(settings: Settings, listening: socket.socket) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # logging is already configured: JSON lines
        "access_log": False,  # the middleware writes one line per request
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        "timeout_graceful_shutdown": 30,
    }
    if settings.serve_workers == 1:
        app_ = serving_app(settings, run_worker=settings.runs_worker_in_process)
        uvicorn.Server(uvicorn.Config(app_, **options)).run(sockets=[listening])
        return
    # Each API process reads the same settings from the environment; the options given
    # on the command line travel there too.
    os.environ.update(
        {"DARVAZA_HOST": settings.host, "DARVAZA_PORT": str(settings.port),
         "DARVAZA_WORKER_IN_PROCESS": "false"}
    )  # fmt: skip
    config = uvicorn.Config(
        "darvaza.cli.serve:api_process_app", factory=True, workers=settings.serve_workers, **options
    )
    job_worker = _job_worker_thread(settings) if settings.runs_worker_in_process else None
    try:
        Multiprocess(config, sockets=[listening]).run()
    finally:
        if job_worker is not None:
            job_worker()


def api_process_app() -> FastAPI:
    """What each of several API processes serves (uvicorn calls it in the process)."""
    return serving_app(None)


def serving_app(settings: Settings | None, *, run_worker: bool = False) -> FastAPI:
    """The app as `darvaza serve` runs it: built, then its start-up heap frozen."""
    from darvaza.app import create_app

    app_ = create_app(settings, run_worker=run_worker)
    freeze_startup_heap()
    return app_


def freeze_startup_heap() -> None:
    """Move what start-up built (modules, the app, its routes and models: some 200,000
    objects, all living as long as the process) out of the garbage collector's sight.
    A full collection otherwise walks all of them, some 80 ms, and that pause landed on
    whichever request set it off: the ops summary's p99 was four times its median."""
    gc.collect()
    gc.freeze()


def _job_worker_thread(settings: Settings) -> Callable[[], None]:
    """The upkeep worker on a thread of this process; returns what stops it."""
    from darvaza.assembly import assemble, start_worker_thread, stop_worker_thread
    from darvaza.db import Database

    db = Database.from_settings(settings)
    running = start_worker_thread(assemble(settings, db))

    def stop() -> None:
        stop_worker_thread(running)
        db.dispose()

    return stop


@db_app.command("grants")
def db_grants(
    role: Annotated[str, typer.Option(help="The PostgreSQL role that serves the API.")],
) -> None:
    """Print the SQL that gives the serving role what it needs and no more (run it as the
    role that owns the tables, after every `darvaza migrate`)."""
    from darvaza.db_roles import serving_role_grants
    from darvaza.models import metadata

    try:
        statements = serving_role_grants(role, metadata)
    except ValueError as exc:
        _fail(str(exc), code=2)
    for statement in statements:
        typer.echo(statement + ";")


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
    """Upgrade the database to the newest schema, naming each contract or irreversible
    migration on the way; in `production` one of those needs a restore point at most
    DARVAZA_MIGRATE_BACKUP_MAX_AGE_MINUTES old. With --check, change nothing and record
    the verdict as `migration_check` evidence."""
    from darvaza.db import Database
    from darvaza.migrate import model_differences, upgrade_to_head
    from darvaza.operations.service import BackupError, guard_upgrade
    from darvaza.revisions import migration_status

    settings = _settings()
    db = Database.from_settings(settings)
    try:
        if not check:
            try:
                guard = guard_upgrade(db, settings)
            except BackupError as exc:
                _fail(str(exc))
            for line in guard.describe():
                typer.echo(line)
            upgrade_to_head(db)
            typer.echo(f"Migrated: {migration_status(db).describe()}")
            return
        _check_migrations(settings, db, migration_status(db), model_differences)
    finally:
        db.dispose()


def _check_migrations(
    settings: Settings, db: Database, status: MigrationStatus,
    differences_of: Callable[[Database], list[str]],
) -> None:  # fmt: skip
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow

    started = utcnow()
    differences = [] if status.pending else differences_of(db)
    details = {
        "current": status.current_label, "head": sorted(status.head),
        "pending": status.pending, "differences": differences[:50],
    }  # fmt: skip
    failed = status.pending or bool(differences)
    record_own_run(
        settings, db, "migration_check", "schema", "failed" if failed else "passed", details,
        started_at=started,
    )  # fmt: skip
    if status.pending:
        _fail(f"Not current: {status.describe()}.")
    if differences:
        _fail(
            "Not current: the models differ from the migrations (write a migration):\n"
            + "\n".join(f"  - {d}" for d in differences)
        )
    typer.echo(f"Current: {status.describe()}; models match the migrations.")


@config_app.command("check")
def config_check() -> None:
    """Print the settings in force, secrets masked; exit 1 if any is unsafe. The verdict is
    recorded as `config_check` evidence in the configured database, when it can take it."""
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow
    from darvaza.db import Database, DatabaseUnusable

    started = utcnow()
    settings = _settings()
    for name, value in settings.masked().items():
        typer.echo(f"{name} = {value}")
    _warn(settings, settings.port)
    problems = _start_problems(settings)
    try:
        db = Database.from_settings(settings)
    except DatabaseUnusable as exc:
        typer.echo(f"note: no config_check evidence recorded: {exc}", err=True)
    else:
        details = {"profile": settings.profile.value, "problems": problems}
        result = "failed" if problems else "passed"
        try:
            record_own_run(settings, db, "config_check", "settings", result, details,
                           started_at=started)  # fmt: skip
        finally:
            db.dispose()
    if problems:
        _fail(
            f"\n{len(problems)} problem(s) for the {settings.profile.value} profile:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    typer.echo(f"\nNo problems for the {settings.profile.value} profile.")


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Jobs run at once (default DARVAZA_WORKER_CONCURRENCY)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this worker's Prometheus metrics on 127.0.0.1:<port>."),
    ] = None,
) -> None:
    """Run the job worker until SIGTERM or Ctrl-C, then drain.

    Exit codes: 0 stopped cleanly; 3 a job ignored its timeout (restart the worker).
    """
    from prometheus_client import start_http_server

    from darvaza.assembly import WORK, assemble, worker_config
    from darvaza.jobs.worker import Worker, run_until_signalled
    from darvaza.logs import configure_logging
    from darvaza.metrics import Metrics

    _refuse_unsafe(_settings())  # before the database: a bad setting is named first
    with _database(warn=True) as (settings, db):
        configure_logging(settings.log_level)
        metrics = Metrics()
        if metrics_port is not None:
            start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
        running = Worker(
            assemble(settings, db, metrics=metrics),
            WORK.registry,
            worker_config(settings, concurrency=concurrency),
            metrics=metrics,
        )
        freeze_startup_heap()
        code = run_until_signalled(running)
    if code:
        raise typer.Exit(code)
