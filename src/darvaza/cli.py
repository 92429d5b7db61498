"""The `darvaza` command. Each subcommand is a thin shell around a domain service.

Exit codes: 0 success, 1 a check found a problem (or the server refused to start),
2 the settings themselves cannot be read.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from darvaza import __version__
from darvaza.config import Settings, SettingsError, load_settings, start_warnings
from darvaza.errors import DarvazaError
from darvaza.security.roles import PlatformRole

if TYPE_CHECKING:
    from darvaza.db import Database
    from darvaza.jobs.models import Job
    from darvaza.operations.smoke.client import Report

app = typer.Typer(
    name="darvaza",
    help="Darvaza: a self-hosted membership platform that runs its own operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the settings in force.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts, and bootstrapping the first admin.", no_args_is_help=True)
tokens_app = typer.Typer(help="Staff API tokens for automation.", no_args_is_help=True)
app.add_typer(config_app, name="config")
db_app = typer.Typer(help="The database's roles.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
payments_app = typer.Typer(help="Payments and their timelines.", no_args_is_help=True)
app.add_typer(payments_app, name="payments")
tenants_app = typer.Typer(help="Tenants: list, create, show.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
plans_app = typer.Typer(help="A tenant's plans.", no_args_is_help=True)
app.add_typer(plans_app, name="plans")
jobs_app = typer.Typer(help="The job queue: list, retry, cancel, enqueue.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
smoke_app = typer.Typer(
    help="Black-box checks against a running instance; exit 1 naming every deviation.",
    no_args_is_help=True,
)
app.add_typer(smoke_app, name="smoke")

CLI_ACTOR = "cli"
PASSWORD_VARIABLE = "DARVAZA_PASSWORD"


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


def _refuse_unsafe(settings: Settings) -> None:
    problems = settings.problems()
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
    from darvaza.migrate import migration_status, upgrade_to_head

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
    sock = socket.socket(family, socket.SOCK_STREAM)
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

    from darvaza.app import create_app

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
        app_ = create_app(settings, run_worker=settings.runs_worker_in_process)
        uvicorn.Server(uvicorn.Config(app_, **options)).run(sockets=[listening])
        return
    # Each API process reads the same settings from the environment; the options given
    # on the command line travel there too.
    os.environ.update(
        {"DARVAZA_HOST": settings.host, "DARVAZA_PORT": str(settings.port),
         "DARVAZA_WORKER_IN_PROCESS": "false"}
    )  # fmt: skip
    config = uvicorn.Config(
        "darvaza.app:create_app", factory=True, workers=settings.serve_workers, **options
    )
    job_worker = _job_worker_thread(settings) if settings.runs_worker_in_process else None
    try:
        Multiprocess(config, sockets=[listening]).run()
    finally:
        if job_worker is not None:
            job_worker()


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
    _warn(settings, settings.port)
    problems = settings.problems()
    if problems:
        _fail(
            f"\n{len(problems)} problem(s) for the {settings.profile.value} profile:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    typer.echo(f"\nNo problems for the {settings.profile.value} profile.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every sealed event against its seal, the seals' keyed chain, every signed
    checkpoint and its copy in the checkpoint folder; report what is not sealed yet. Exit 1
    naming the first event that disagrees, or when events wait too long for their seal."""
    from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder, verify_log
    from darvaza.db import Database
    from darvaza.migrate import migration_status

    settings = _settings()
    db = Database.from_settings(settings)
    try:
        status = migration_status(db)
        if status.pending:
            _fail(f"Cannot verify: {status.describe()}. Run `darvaza migrate` first.")
        report = verify_log(
            db,
            AuditKeys.from_secret(settings.effective_audit_key),
            CheckpointFolder(Path(settings.audit_checkpoint_dir)),
            max_delay_seconds=settings.audit_seal_max_delay_seconds,
        )
    finally:
        db.dispose()
    waiting = f"{report.unsealed} events not sealed yet"
    if report.oldest_unsealed_seconds is not None:
        waiting += f" (the oldest for {report.oldest_unsealed_seconds:.1f} s)"
    if not report.ok:
        where = ""
        if report.first_bad_seq is not None:
            event = f", event {report.first_bad_event}" if report.first_bad_event else ""
            where = f"\nFirst disagreement at seal {report.first_bad_seq}{event}."
        _fail(
            "Audit log BROKEN: " + "; ".join(report.problems) + "." + where
            + f"\nSeals verified before it: {report.sealed}; {waiting}."
        )  # fmt: skip
    typer.echo(
        f"Audit log intact: {report.sealed} sealed events in {report.checkpoints} signed "
        f"checkpoints; {waiting}."
    )


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal every pending event now and sign its checkpoints (the worker's sealer does
    this continuously)."""
    from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder, seal_all

    with _database() as (settings, db):
        keys = AuditKeys.from_secret(settings.effective_audit_key)
        sealed = seal_all(db, keys, CheckpointFolder(Path(settings.audit_checkpoint_dir)))
    typer.echo(f"Sealed {sealed} events.")


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the public key that checkpoints are signed with (keep a copy elsewhere)."""
    from darvaza.audit.checkpoints import AuditKeys

    typer.echo(AuditKeys.from_secret(_settings().effective_audit_key).public_hex)


@audit_app.command("prove")
def audit_prove(
    event_id: Annotated[int, typer.Argument(help="The event's id (as the API shows it).", min=1)],
) -> None:
    """Print a proof (JSON) that the event is in a signed checkpoint; `darvaza audit
    check-proof` checks it with the public key alone, without the database."""
    from darvaza.audit.checkpoints import inclusion_proof

    with _database() as (_, db):
        try:
            proof = inclusion_proof(db, event_id)
        except LookupError as exc:
            _fail(str(exc))
    typer.echo(json.dumps(proof, indent=1, ensure_ascii=False))


@audit_app.command("check-proof")
def audit_check_proof(
    proof_file: Annotated[Path, typer.Argument(help="A proof from `darvaza audit prove`.")],
    public_key: Annotated[str, typer.Option(help="The audit public key, hex.")],
) -> None:
    """Check a proof offline: exit 0 when it holds, 1 naming what does not."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from darvaza.audit.checkpoints import check_proof

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        proof = json.loads(proof_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        _fail(f"Cannot read the key or the proof: {exc}", code=2)
    problems = check_proof(proof, key)
    if problems:
        _fail("The proof does not hold: " + "; ".join(problems) + ".")
    typer.echo(
        f"The proof holds: event {proof['id']} is seal {proof['seq']} of the signed checkpoint."
    )


@contextmanager
def _database(*, warn: bool = False) -> Iterator[tuple[Settings, Database]]:
    from darvaza.db import Database
    from darvaza.migrate import migration_status

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


class RoleChoice(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SUPPORT_ADMIN = "support_admin"
    AUDITOR = "auditor"
    CUSTOMER = "customer"

    def platform_role(self) -> PlatformRole | None:
        return None if self is RoleChoice.CUSTOMER else PlatformRole(self.value)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The account's email address.")],
    role: Annotated[
        RoleChoice, typer.Option(help="Platform role, or customer.")
    ] = RoleChoice.CUSTOMER,
) -> None:
    """Create an account; the password comes from DARVAZA_PASSWORD or a prompt."""
    from darvaza.identity.service import create_user
    from darvaza.security.caller import Actor

    password = _new_password()
    with _database() as (settings, db):
        user = create_user(
            db,
            Actor.system(CLI_ACTOR),
            email=email,
            password=password,
            min_length=settings.password_min_length,
            platform_role=role.platform_role(),
        )
    typer.echo(f"Created {user.email} ({role.value}), id {user.id}")


@users_app.command("set-role")
def users_set_role(
    email: Annotated[str, typer.Option(help="The account's email address.")],
    role: Annotated[RoleChoice, typer.Option(help="Platform role, or customer for none.")],
) -> None:
    """Give an account a platform role (or take it away); its sessions end."""
    from darvaza.identity.service import require_user_by_email, set_platform_role
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        with db.read() as session:
            user_id = require_user_by_email(session, email).id
        user = set_platform_role(
            db, Actor.system(CLI_ACTOR), user_id=user_id, role=role.platform_role()
        )
    typer.echo(f"{user.email} is now {user.platform_role or 'customer'}")


@users_app.command("list")
def users_list(
    email: Annotated[str | None, typer.Option(help="Only this address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Accounts, oldest first: email, platform role, whether the address is verified."""
    from darvaza.identity.service import list_users

    with _database() as (_, db):
        users = list_users(db, email=email, limit=limit)
    for user in users:
        verified = "verified" if user.email_verified_at else "unverified"
        typer.echo(f"{user.id}  {user.email}  {user.platform_role or 'customer'}  {verified}")
    if not users:
        typer.echo("No accounts.")


@users_app.command("show")
def users_show(email: Annotated[str, typer.Option(help="The account's email address.")]) -> None:
    """One account: its role, when it was made and its password changed, and the tenants
    it is staff of."""
    from darvaza.identity.service import require_user_by_email
    from darvaza.tenants.service import memberships_of

    with _database() as (_, db):
        with db.read() as session:
            user = require_user_by_email(session, email)
        staff_of = memberships_of(db, user.id)
    typer.echo(f"{user.email}  id {user.id}")
    typer.echo(f"  platform role: {user.platform_role or 'customer'}")
    typer.echo(f"  created: {user.created_at:%Y-%m-%d %H:%M:%S}")
    verified = f"{user.email_verified_at:%Y-%m-%d %H:%M:%S}" if user.email_verified_at else "no"
    typer.echo(f"  email verified: {verified}")
    changed = user.password_changed_at
    typer.echo(f"  password changed: {f'{changed:%Y-%m-%d %H:%M:%S}' if changed else 'never'}")
    for membership in staff_of:
        typer.echo(f"  {membership.role} of {membership.tenant.slug}")


@users_app.command("reset-password")
def users_reset_password(
    email: Annotated[str, typer.Option(help="The account's email address.")],
) -> None:
    """Set a new password (from DARVAZA_PASSWORD or a prompt), for someone locked out;
    every session, API token and reset link of the account ends. Audited."""
    from darvaza.identity.service import set_password
    from darvaza.security.caller import Actor

    password = _new_password()
    with _database() as (settings, db):
        revoked = set_password(
            db, Actor.system(CLI_ACTOR), email=email, new_password=password,
            min_length=settings.password_min_length,
        )  # fmt: skip
    typer.echo(f"New password set for {email}; {revoked} session(s) and token(s) ended.")


@tenants_app.command("list")
def tenants_list(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """Tenants by slug."""
    from darvaza.tenants.service import list_tenants

    with _database() as (_, db):
        tenants = list_tenants(db, limit=limit, after=None)
    for tenant in tenants:
        typer.echo(f"{tenant.slug}  {tenant.name}  gateway {tenant.payment_gateway or 'default'}")
    if not tenants:
        typer.echo("No tenants.")


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Option(help="Lower-case letters, digits and -.")],
    name: Annotated[str, typer.Option(help="The tenant's name as people see it.")],
    owner_email: Annotated[str, typer.Option(help="An existing account, its first owner.")],
) -> None:
    """Create a tenant with its first owner (audited)."""
    from darvaza.security.caller import Actor
    from darvaza.tenants.service import create_tenant

    with _database() as (_, db):
        tenant = create_tenant(
            db, Actor.system(CLI_ACTOR), slug=slug, name=name, owner_email=owner_email
        )
    typer.echo(f"Created tenant {tenant.slug} ({tenant.name}), id {tenant.id}")


@tenants_app.command("show")
def tenants_show(slug: Annotated[str, typer.Argument(help="The tenant's slug.")]) -> None:
    """One tenant: its gateway, its owners and managers, and its plans."""
    from darvaza.billing.service import list_plans
    from darvaza.tenants.service import find_tenant, list_members

    with _database() as (settings, db):
        tenant = find_tenant(db, slug)
        members = list_members(db, tenant.id)
        plans = list_plans(db, tenant.id, include_retired=True)
    gateway = tenant.payment_gateway or f"{settings.payment_gateway.value} (the default)"
    typer.echo(f"{tenant.slug}  {tenant.name}  id {tenant.id}")
    typer.echo(f"  gateway: {gateway}")
    for member in members:
        typer.echo(f"  {member.role}: {member.user.email}")
    typer.echo(f"  plans: {len(plans)} ({sum(p.active for p in plans)} on sale)")


@plans_app.command("list")
def plans_list(
    tenant: Annotated[str, typer.Option(help="The tenant's slug.")],
    include_retired: Annotated[bool, typer.Option(help="Show retired plans too.")] = False,
) -> None:
    """A tenant's plans: code, price, period, and whether it is on sale."""
    from darvaza.billing.service import list_plans
    from darvaza.tenants.service import find_tenant

    with _database() as (_, db):
        found = list_plans(db, find_tenant(db, tenant).id, include_retired=include_retired)
    for plan in found:
        sale = "on sale" if plan.active else "retired"
        typer.echo(
            f"{plan.code}  {plan.name}  {plan.price_rials:,} Rials / {plan.period_days} days"
            f"  {sale}  id {plan.id}"
        )
    if not found:
        typer.echo("No plans.")


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="The staff member the token acts for.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. ops.")],
    expires_in_days: Annotated[
        int | None,
        typer.Option(help="Days until it expires; DARVAZA_API_TOKEN_MAX_DAYS when left out."),
    ] = None,
) -> None:
    """Create a staff API token and print it once (only its hash is kept)."""
    from darvaza.identity.service import create_api_token
    from darvaza.security.caller import Actor

    with _database() as (settings, db):
        new = create_api_token(
            db,
            Actor.system(CLI_ACTOR),
            email=email,
            name=name,
            expires_in_days=expires_in_days,
            max_days=settings.api_token_max_days,
        )
    expiry = new.credential.expires_at.isoformat() if new.credential.expires_at else "never"
    typer.echo(f"Token {new.credential.id} for {email} (expires {expiry}). Shown once:", err=True)
    typer.echo(new.token)


@tokens_app.command("list")
def tokens_list(
    include_revoked: Annotated[bool, typer.Option(help="Show revoked tokens too.")] = False,
) -> None:
    """List staff API tokens (never the tokens themselves)."""
    from darvaza.identity.service import list_api_tokens

    with _database() as (_, db):
        found = list_api_tokens(db, include_revoked=include_revoked)
    for credential in found:
        state = f"revoked {credential.revoked_at:%Y-%m-%d}" if credential.revoked_at else "live"
        expiry = f"{credential.expires_at:%Y-%m-%d}" if credential.expires_at else "never"
        typer.echo(
            f"{credential.id}  {credential.user.email}  {credential.name}  "
            f"expires {expiry}  last used {credential.last_used_at:%Y-%m-%d %H:%M}  {state}"
        )
    if not found:
        typer.echo("No API tokens.")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[uuid.UUID, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a staff API token; it is refused from the next request on."""
    from darvaza.identity.service import revoke_api_token
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        revoke_api_token(db, Actor.system(CLI_ACTOR), token_id)
    typer.echo(f"Revoked {token_id}")


@payments_app.command("list")
def payments_list(
    state: Annotated[
        str | None, typer.Option(help="Only this state (paid, mismatch, ...).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's (its slug).")] = None,
    gateway: Annotated[str | None, typer.Option(help="Only this gateway's.")] = None,
    stuck: Annotated[bool, typer.Option(help="Only those still open past their time.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Payments of every tenant, newest first; mismatched and stuck ones are counted first."""
    from darvaza.billing.service import (
        PaymentFilter,
        list_payments,
        payments_needing_attention,
        stuck_after,
    )

    with _database() as (settings, db):
        attention = payments_needing_attention(db, stuck_after=stuck_after(settings))
        page = list_payments(
            db,
            PaymentFilter(state=state, tenant_slug=tenant, gateway=gateway, stuck_only=stuck),
            stuck_after=stuck_after(settings),
            limit=limit,
        )
    typer.echo(f"mismatch: {attention['mismatch']}  stuck: {attention['stuck']}")
    for listed in page.items:
        p = listed.payment
        typer.echo(
            f"{p.created_at:%Y-%m-%d %H:%M}  {p.order_id}  {p.state:<9}"
            f"{' STUCK' if listed.stuck else ''}  {p.amount_rials:>12,} Rials  {p.gateway:<8}"
            f"  {listed.tenant_slug}  {p.plan_code}  {listed.user_email}"
        )
    if not page.items:
        typer.echo("No payments.")


@payments_app.command("show")
def payments_show(
    order_id: Annotated[str, typer.Argument(help="Darvaza's order id (dz-...).")],
) -> None:
    """Print a payment and its timeline: every step, what arrived and what was decided."""
    import json

    from darvaza.billing.service import payment_timeline

    with _database() as (_, db):
        timeline = payment_timeline(db, order_id=order_id)
    payment = timeline.payment
    typer.echo(
        f"{payment.order_id}  {payment.state}  {payment.amount_rials:,} Rials via {payment.gateway}"
        f"  (gateway id {payment.gateway_payment_id or '-'},"
        f" receipt {payment.gateway_reference or '-'})"
    )
    if payment.failure_code:
        typer.echo(f"  failure: {payment.failure_code}: {payment.failure_message}")
    for event in timeline.events:
        typer.echo(f"  {event.occurred_at:%Y-%m-%d %H:%M:%S}  {event.kind:<18} {event.message}")
        if event.data:
            typer.echo(f"      {json.dumps(event.data, ensure_ascii=False, sort_keys=True)}")


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

    with _database(warn=True) as (settings, db):
        _refuse_unsafe(settings)
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
        code = run_until_signalled(running)
    if code:
        raise typer.Exit(code)


def _print_job(job: Job) -> None:
    when = f"{job.run_at:%Y-%m-%d %H:%M:%S}"
    typer.echo(
        f"{job.id}  {job.state:<9}  {job.kind:<22}  attempt {job.attempts}/{job.max_attempts}"
        f"  run at {when}"
    )
    if job.last_error and job.state != "succeeded":
        typer.echo(f"      last error: {job.last_error.strip().splitlines()[-1][:200]}")


class JobStateChoice(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


@jobs_app.command("list")
def jobs_list(
    state: Annotated[JobStateChoice | None, typer.Option(help="Only jobs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List jobs, newest first."""
    from darvaza.jobs.service import JobFilter, list_jobs

    with _database() as (_, db):
        found = list_jobs(
            db, JobFilter(state=state.value if state else None, kind=kind, limit=limit)
        ).items
    for job in found:
        _print_job(job)
    if not found:
        typer.echo("No jobs.")


JobIdArgument = Annotated[int, typer.Argument(help="The job's id.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why, for the audit log.")]


@jobs_app.command("retry")
def jobs_retry(job_id: JobIdArgument, reason: ReasonOption = None) -> None:
    """Run a dead or cancelled job again now (one more attempt if it had used them all),
    or a job waiting for its retry at once. A running or succeeded job is refused (exit
    1). Audited, with --reason."""
    from darvaza.jobs.service import retry_job
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        _print_job(retry_job(db, Actor.system(CLI_ACTOR), job_id, reason=reason))


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobIdArgument, reason: ReasonOption = None) -> None:
    """Cancel a queued job (audited)."""
    from darvaza.jobs.service import cancel_job
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        _print_job(cancel_job(db, Actor.system(CLI_ACTOR), job_id, reason=reason))


@jobs_app.command("enqueue-ops")
def jobs_enqueue_ops() -> None:
    """Enqueue every upkeep job now, once (a worker runs them)."""
    from darvaza.assembly import WORK
    from darvaza.jobs.service import enqueue_ops
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        added = enqueue_ops(db, Actor.system(CLI_ACTOR), WORK.upkeep)
    for kind, job_id in added.items():
        typer.echo(f"{kind}: " + (f"job {job_id}" if job_id else "already queued or running"))


@jobs_app.command("workers")
def jobs_workers(
    include_stopped: Annotated[bool, typer.Option(help="Show stopped workers too.")] = False,
) -> None:
    """List workers and their heartbeats; exit 1 if one is gone."""

    from darvaza.jobs.service import list_workers

    with _database() as (settings, db):
        views = list_workers(
            db,
            stale_after=settings.worker_stale_after,
            include_stopped=include_stopped,
        )
    for view in views:
        w = view.worker
        typer.echo(
            f"{w.id}  {'GONE' if view.gone else w.state}  last seen {w.last_seen_at:%H:%M:%S}"
            f"  running {w.jobs_running}  done {w.jobs_succeeded}  failed {w.jobs_failed}"
        )
    if not views:
        typer.echo("No workers.")
    if any(view.gone for view in views):
        _fail("A worker is gone: its heartbeat stopped (see docs/runbooks/worker-gone.md).")


BaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Where Darvaza runs [default: DARVAZA_PUBLIC_URL; in `local`, unset, "
        "http://DARVAZA_HOST:DARVAZA_PORT].",
        show_default=False,
    ),
]


def _instance(base_url: str | None) -> str:
    return base_url or _settings().public_url


def _report(report: Report) -> None:
    if report.ok:
        typer.echo(report.summary())
        return
    _fail(report.summary())


AdminToken = Annotated[
    str, typer.Option(envvar="ADMIN_TOKEN", help="A platform admin's API token (or $ADMIN_TOKEN).")
]
UnusedAdminToken = Annotated[
    str | None,
    typer.Option(
        envvar="ADMIN_TOKEN", help="Taken so that every smoke check takes it; not needed here."
    ),
]


@smoke_app.command("auth-session")
def smoke_auth_session(
    admin_token: UnusedAdminToken = None,  # noqa: ARG001 - one loop calls every check alike
    base_url: BaseUrl = None,
) -> None:
    """Register, sign in, ask who I am, sign out, and be refused afterwards."""
    from darvaza.operations.smoke.auth_session import run_auth_session

    _report(run_auth_session(_instance(base_url)))


@smoke_app.command("mock-payment")
def smoke_mock_payment(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """Checkout, pay on the mock gateway, call back: one active subscription."""
    from darvaza.operations.smoke.payments import run_mock_payment

    _report(run_mock_payment(_instance(base_url), admin_token))


@smoke_app.command("idpay-callback")
def smoke_idpay_callback(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """Replayed, tampered, forged and unknown callbacks change nothing they should not."""
    from darvaza.operations.smoke.payments import run_idpay_callback

    _report(run_idpay_callback(_instance(base_url), admin_token))


@smoke_app.command("content-download")
def smoke_content_download(
    admin_token: AdminToken,
    base_url: BaseUrl = None,
    max_wait: Annotated[
        float, typer.Option(help="Seconds to wait for a token to expire (skip the check past it).")
    ] = 30,
) -> None:
    """A subscriber downloads the exact bytes; strangers, tampered and expired tokens don't."""
    from darvaza.operations.smoke.content_download import run_content_download

    _report(run_content_download(_instance(base_url), admin_token, max_wait_seconds=max_wait))


@smoke_app.command("rbac-admin")
def smoke_rbac_admin(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """Call every route as every kind of caller and compare with its declared policy."""
    from darvaza.operations.smoke.rbac import run_rbac_matrix

    _report(run_rbac_matrix(_instance(base_url), admin_token))


def main() -> None:
    from sqlalchemy.exc import OperationalError

    from darvaza.db import DatabaseUnusable, explain_connection_error, normalise_url

    try:
        app()
    except (DatabaseUnusable, OperationalError) as exc:
        # A database that cannot be used is one line with the fix, not a traceback.
        said = str(exc) if isinstance(exc, DatabaseUnusable) else None
        said = said or explain_connection_error(exc, normalise_url(load_settings().database_url))
        if said is None:
            raise
        typer.echo(said, err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
