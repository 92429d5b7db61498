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
