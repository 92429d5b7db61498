"""The RBAC matrix: every route, every kind of caller, against a real server, on SQLite
and PostgreSQL. It is the same code as `darvaza smoke rbac-admin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import APIRouter
from starlette.types import ASGIApp

from darvaza.db import Database
from darvaza.errors import Forbidden
from darvaza.operations.smoke.rbac import EXAMPLES, Call, Example, run_rbac_matrix
from darvaza.security.policy import AUDIT_READER, Access, Requires
from tests.support.world import admin_token, make_app


def test_every_route_answers_every_caller_as_its_policy_says(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    base = serve(make_app(database_url))
    report = run_rbac_matrix(base, admin_token(db))
    assert report.deviations == []
    # Every route x every caller, bad tokens, foreign ids; and each of the 16 grant scopes
    # over the 21 routes a grant can open, with its action log.
    assert report.checks > 1200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_matrix_catches_a_call_under_a_grant_missing_from_its_log(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Only the routes a grant opens are given examples (the rest are reported as having
    none, which this test ignores): every scope's log must be found short."""
    from darvaza.security.policy import route_policies
    from darvaza.support import service as support

    app = make_app(database_url)
    opened = {
        (row.method, row.path) for row in route_policies(app)
        if row.policy is not None and row.policy.grant_scope is not None
    }  # fmt: skip
    monkeypatch.setattr(support, "record_grant_use", lambda _db, _use: None)
    examples = {route: example for route, example in EXAMPLES.items() if route in opened}
    report = run_rbac_matrix(serve(app), admin_token(db), examples=examples)
    unlogged = [d for d in report.deviations if "action log" in d]
    assert len(unlogged) == 16, report.deviations


# The probe routes touch no data: one engine shows the matrix reports them.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_matrix_catches_a_route_that_breaks_its_policy(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    """A route that declares 'auditors may read' but refuses auditors, and a route the
    matrix has no example for: both must be reported."""
    app = make_app(database_url)
    probe = APIRouter()

    @probe.get("/api/v1/admin/probe-report")
    def report_route(access: Annotated[Access, Requires(AUDIT_READER)]) -> dict[str, bool]:
        if access.user.platform_role == "auditor":
            raise Forbidden("changed my mind")
        return {"ok": True}

    @probe.get("/api/v1/admin/probe-unlisted", dependencies=[Requires(AUDIT_READER)])
    def unlisted() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(probe)
    examples = {
        **EXAMPLES,
        ("GET", "/api/v1/admin/probe-report"): Example(
            lambda _w, _c, _a: Call("/api/v1/admin/probe-report")
        ),
    }
    report = run_rbac_matrix(serve(app), admin_token(db), examples=examples)
    assert any(
        "GET /api/v1/admin/probe-report as auditor: expected ok, got 403" in d
        for d in report.deviations
    ), report.deviations
    assert "GET /api/v1/admin/probe-unlisted has no example in the matrix" in report.deviations


def test_a_non_admin_token_is_refused_up_front(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    report = run_rbac_matrix(serve(make_app(database_url)), "dzt_" + "x" * 43)
    assert not report.ok
    assert "401" in report.deviations[0]
