"""`darvaza smoke`: black-box checks against a running instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from darvaza.operations.smoke.client import Report

from darvaza.cli.common import (
    _fail,
    _settings,
)

smoke_app = typer.Typer(
    help="Black-box checks against a running instance; exit 1 naming every deviation.",
    no_args_is_help=True,
)


BaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Where Darvaza runs (default: DARVAZA_PUBLIC_URL; in `local`, unset, "
        "http://DARVAZA_HOST:DARVAZA_PORT).",
        show_default=False,
    ),
]


def _instance(base_url: str | None) -> str:
    return base_url or _settings().public_url


def _record(base_url: str, admin_token: str | None, report: Report) -> None:
    """Record the check's verdict as `smoke` evidence on the instance it checked."""
    from darvaza.operations.smoke.client import SmokeFailed, record_evidence

    if not admin_token:
        typer.echo("note: no smoke evidence recorded: give --admin-token", err=True)
        return
    try:
        evidence_id = record_evidence(base_url, admin_token, report)
    except SmokeFailed as exc:
        typer.echo(f"note: no smoke evidence recorded: {exc}", err=True)
        return
    typer.echo(f"Recorded smoke evidence {evidence_id} ({'passed' if report.ok else 'failed'}).")


def _report(report: Report, base_url: str, admin_token: str | None) -> None:
    _record(base_url, admin_token, report)
    if report.ok:
        typer.echo(report.summary())
        return
    _fail(report.summary())


AdminToken = Annotated[
    str, typer.Option(envvar="ADMIN_TOKEN", help="A platform admin's API token (or $ADMIN_TOKEN).")
]
OptionalAdminToken = Annotated[
    str | None,
    typer.Option(
        envvar="ADMIN_TOKEN",
        help="Optional: with it, the check reuses the smoke fixture's account (else it "
        "registers a new one) and its verdict is recorded as evidence.",
    ),
]


@smoke_app.command("auth-session")
def smoke_auth_session(
    admin_token: OptionalAdminToken = None,
    base_url: BaseUrl = None,
) -> None:
    """Register, sign in, ask who I am, sign out, and be refused afterwards."""
    from darvaza.operations.smoke.auth_session import run_auth_session

    url = _instance(base_url)
    _report(run_auth_session(url, admin_token), url, admin_token)


@smoke_app.command("mock-payment")
def smoke_mock_payment(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """Checkout, pay on the mock gateway, call back: one active subscription."""
    from darvaza.operations.smoke.payments import run_mock_payment

    url = _instance(base_url)
    _report(run_mock_payment(url, admin_token), url, admin_token)


@smoke_app.command("idpay-callback")
def smoke_idpay_callback(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """Replayed, tampered, forged and unknown callbacks change nothing they should not."""
    from darvaza.operations.smoke.payments import run_idpay_callback

    url = _instance(base_url)
    _report(run_idpay_callback(url, admin_token), url, admin_token)


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

    url = _instance(base_url)
    _report(run_content_download(url, admin_token, max_wait_seconds=max_wait), url, admin_token)


@smoke_app.command("rbac-admin")
def smoke_rbac_admin(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """Call every route as every kind of caller and compare with its declared policy."""
    from darvaza.operations.smoke.rbac import run_rbac_matrix

    url = _instance(base_url)
    _report(run_rbac_matrix(url, admin_token), url, admin_token)


@smoke_app.command("support-access")
def smoke_support_access(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """A ticket, a grant the owner approves, a read under it, the revocation, refused after."""
    from darvaza.operations.smoke.support_access import run_support_access

    url = _instance(base_url)
    _report(run_support_access(url, admin_token), url, admin_token)


@smoke_app.command("incident-flow")
def smoke_incident_flow(admin_token: AdminToken, base_url: BaseUrl = None) -> None:
    """An unpublished SEV4 declared by support, updated, resolved and reviewed."""
    from darvaza.operations.smoke.incident_flow import run_incident_flow

    url = _instance(base_url)
    _report(run_incident_flow(url, admin_token), url, admin_token)


@smoke_app.command("all")
def smoke_all(
    admin_token: AdminToken,
    base_url: BaseUrl = None,
    max_wait: Annotated[
        float, typer.Option(help="content-download: seconds to wait for a token to expire.")
    ] = 30,
) -> None:
    """Every smoke check against one instance, in order: a table of name, result and
    seconds; each verdict recorded as `smoke` evidence on that instance. Exits 1 if any
    failed (each failure's deviations are printed after the table)."""
    from darvaza.operations.smoke.all import run_all
    from darvaza.operations.smoke.client import SmokeFailed, record_evidence

    url = _instance(base_url)
    reports = run_all(url, admin_token, max_wait_seconds=max_wait)
    typer.echo(f"{'check':<20} {'result':<8} {'seconds':>8}  evidence")
    for report in reports:
        try:
            recorded = record_evidence(url, admin_token, report)
        except SmokeFailed as exc:
            recorded = f"not recorded: {exc}"
        result = "passed" if report.ok else "failed"
        typer.echo(f"{report.name:<20} {result:<8} {report.seconds:>8.1f}  {recorded}")
    failed = [report for report in reports if not report.ok]
    for report in failed:
        typer.echo("\n" + report.summary(), err=True)
    if failed:
        raise typer.Exit(1)
