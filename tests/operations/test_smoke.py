"""The smoke checks find what they promise to find, and say so with their exit status."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from fastapi import FastAPI, Response
from sqlalchemy import func, select
from starlette.types import ASGIApp
from typer.testing import CliRunner

from darvaza.billing.models import Plan, Subscription
from darvaza.cli import app as cli
from darvaza.content.models import ContentItem
from darvaza.db import Database
from darvaza.identity.models import User
from darvaza.operations.models import Evidence
from darvaza.operations.smoke.auth_session import run_auth_session
from darvaza.operations.smoke.rbac.world import SPARES
from darvaza.tenants.models import Tenant, TenantMembership
from tests.conftest import BACKENDS
from tests.support.world import Api, admin_token, make_app

runner = CliRunner()


def test_auth_session_passes_against_darvaza(api: Api) -> None:
    report = run_auth_session(api.url)
    assert report.deviations == []
    assert report.checks >= 7
    result = runner.invoke(cli, ["smoke", "auth-session", "--base-url", api.url])
    assert result.exit_code == 0, result.output
    assert "no deviation" in result.output


def test_auth_session_notices_a_logout_that_does_not_log_out(
    serve: Callable[[ASGIApp], str],
) -> None:
    """A server that answers every step but keeps the session alive after logout, and
    tells a taken address from a new one."""
    broken = FastAPI()
    state = {"email": "", "password": ""}

    @broken.post("/api/v1/auth/register", status_code=202, response_model=None)
    def register(body: dict[str, str]) -> Response | dict[str, str]:
        if state["email"] and body["email"].lower() == state["email"]:
            return Response(status_code=409)
        state["email"], state["password"] = body["email"].lower(), body["password"]
        return {"status": "accepted"}

    @broken.post("/api/v1/auth/login", response_model=None)
    def login(body: dict[str, str]) -> Response | dict[str, str]:
        # The registered password, not a pattern: a random one may end in anything.
        if body["password"] != state["password"]:
            return Response('{"error": {"code": "invalid_credentials"}}', status_code=401)
        return {"token": "dzs_" + "a" * 43}

    @broken.get("/api/v1/auth/session")
    def session() -> dict[str, object]:
        return {"user": {"email": state["email"]}, "platform_role": None, "tenant_roles": []}

    @broken.post("/api/v1/auth/logout", status_code=204)
    def logout() -> None:
        return None

    report = run_auth_session(serve(broken))
    assert any("still works after logout" in d for d in report.deviations), report.deviations
    assert any("without a token answered 200" in d for d in report.deviations)
    assert any("tells who has an account" in d for d in report.deviations)


def test_smoke_against_nothing_fails_and_says_why() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(cli, ["smoke", "auth-session", "--base-url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert "could not talk to" in result.output


# The whole matrix twice: on PostgreSQL only (tests/security/test_rbac_matrix.py runs the
# matrix on both engines; the fixture's reuse is what this adds).
@pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)
def test_rbac_admin_from_the_command_line_reuses_the_fixtures_accounts(api: Api) -> None:
    """Run twice: the second run adds no account and no tenant (its plan, payment and
    item it makes in the smoke tenant), and no spare account keeps a role it was given."""
    token = admin_token(api.db)
    after = []
    for _ in range(2):
        result = runner.invoke(
            cli, ["smoke", "rbac-admin", "--base-url", api.url], env={"ADMIN_TOKEN": token}
        )
        assert result.exit_code == 0, result.output
        assert "rbac-admin:" in result.output
        after.append(_litter(api.db))
    assert (after[1]["users"], after[1]["tenants"]) == (after[0]["users"], after[0]["tenants"])
    # What the next run finds: the fixture has put its spare accounts back.
    body = {"accounts": [{"label": label} for label in SPARES]}
    prepared = api.call("POST", "/api/v1/admin/smoke-fixture", token, json=body)
    assert prepared.status_code == 200, prepared.text
    with api.db.read() as session:
        spares = session.scalars(select(User).where(User.email.like("smoke-spare-%"))).all()
        managers = session.scalars(
            select(TenantMembership.user_id).where(TenantMembership.role == "manager")
        ).all()
    assert len(spares) == len(SPARES)
    assert all(spare.platform_role is None for spare in spares)
    assert not {spare.id for spare in spares} & set(managers)
    refused = runner.invoke(
        cli, ["smoke", "rbac-admin", "--base-url", api.url, "--admin-token", "dzt_" + "b" * 43]
    )
    assert refused.exit_code == 1
    refused = runner.invoke(
        cli, ["smoke", "rbac-admin", "--base-url", api.url, "--admin-token", "dzt_" + "b" * 43]
    )
    assert refused.exit_code == 1


def _litter(db: Database) -> dict[str, int]:
    """What piles up if a smoke run makes new things instead of reusing the fixture."""
    with db.read() as session:
        return {
            "users": session.scalar(select(func.count()).select_from(User)) or 0,
            "tenants": session.scalar(select(func.count()).select_from(Tenant)) or 0,
            "plans": session.scalar(select(func.count()).select_from(Plan)) or 0,
            "items": session.scalar(select(func.count()).select_from(ContentItem)) or 0,
            "subscriptions": session.scalar(select(func.count()).select_from(Subscription)) or 0,
        }


def test_smokes_pass_against_darvaza_and_leave_nothing_new_the_second_time(api: Api) -> None:
    token = admin_token(api.db)
    commands = (
        "auth-session", "mock-payment", "idpay-callback", "content-download", "support-access"
    )  # fmt: skip
    after = []
    for _ in range(2):
        for command in commands:
            result = runner.invoke(
                cli, ["smoke", command, "--base-url", api.url, "--max-wait", "0"]
                if command == "content-download" else ["smoke", command, "--base-url", api.url],
                env={"ADMIN_TOKEN": token},
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            assert "no deviation" in result.output
            assert "Recorded smoke evidence" in result.output
        after.append(_litter(api.db))
    assert after[1] == after[0]
    with api.db.read() as session:
        recorded = session.scalars(select(Evidence).where(Evidence.kind == "smoke")).all()
    assert sorted((e.name, e.result) for e in recorded) == sorted(
        (name, "passed") for name in commands * 2
    )
    assert all(e.details["checks"] > 3 and e.details["deviations"] == [] for e in recorded)
    assert all(e.recorded_by_role == "platform_admin" for e in recorded)


def test_smoke_all_fails_naming_each_failed_check(api: Api) -> None:
    """With a token the instance refuses, every check fails (even sign-in, which asks for
    the smoke fixture's account with it), each says so in the table, nothing can be
    recorded, and the exit is 1."""
    forged = "dzt_" + "b" * 43
    result = runner.invoke(
        cli, ["smoke", "all", "--base-url", api.url, "--admin-token", forged, "--max-wait", "1"]
    )
    assert result.exit_code == 1
    lines = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:8]}
    assert lines == {
        "auth-session": "failed", "mock-payment": "failed", "idpay-callback": "failed",
        "content-download": "failed", "support-access": "failed", "incident-flow": "failed",
        "rbac-admin": "failed",
    }  # fmt: skip
    assert "not recorded" in result.stdout
    assert "mock-payment: 1 deviation(s)" in result.output


def test_content_download_smoke_with_a_short_token_life(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    url = serve(make_app(database_url, download_token_ttl_seconds=10))
    result = runner.invoke(
        cli,
        ["smoke", "content-download", "--base-url", url, "--max-wait", "15"],
        env={"ADMIN_TOKEN": admin_token(db)},
    )
    assert result.exit_code == 0, result.output
    assert "no deviation" in result.output
    assert "skipped" not in result.output
