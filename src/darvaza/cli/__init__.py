"""The `darvaza` command. Each subcommand is a thin shell around a domain service.

Exit codes: 0 success, 1 a check found a problem (or the server refused to start),
2 the settings themselves cannot be read.
"""

from __future__ import annotations

import typer

from darvaza.cli import (
    alerts,
    audit,
    backup,
    evidence,
    exports,
    incidents,
    jobs,
    ops,
    payments,
    readiness,
    release,
    serve,
    smoke,
    status,
    support,
    tenants,
    users,
)
from darvaza.cli.common import app
from darvaza.config import load_settings

# The command groups, one module each, in the order `darvaza --help` lists them (the
# commands of `darvaza` itself, such as `serve`, are added by importing `serve`).
GROUPS = (
    (serve.config_app, "config"),
    (serve.db_app, "db"),
    (audit.audit_app, "audit"),
    (users.users_app, "users"),
    (users.tokens_app, "tokens"),
    (payments.payments_app, "payments"),
    (tenants.tenants_app, "tenants"),
    (tenants.plans_app, "plans"),
    (jobs.jobs_app, "jobs"),
    (smoke.smoke_app, "smoke"),
    (evidence.evidence_app, "evidence"),
    (backup.backup_app, "backup"),
    (backup.drill_app, "drill"),
    (release.release_app, "release"),
    (ops.ops_app, "ops"),
    (alerts.alerts_app, "alerts"),
    (status.status_app, "status"),
    (support.support_app, "support"),
    (incidents.incidents_app, "incidents"),
    (readiness.readiness_app, "readiness"),
    (exports.exports_app, "exports"),
)
for group, name in GROUPS:
    app.add_typer(group, name=name)
__all__ = ["app", "main"]


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
