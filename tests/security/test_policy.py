"""One policy per route, declared where the route is; the table they make is the README's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter

from darvaza.app import create_app
from darvaza.security.policy import SAFE_METHODS, Policy, route_policies

if TYPE_CHECKING:
    from fastapi import FastAPI
from darvaza.security.roles import PlatformRole
from tests.support.settings import make_settings

ROOT = Path(__file__).resolve().parents[2]


def routes_without_policy(app: FastAPI) -> list[str]:
    return sorted({f"{row.method} {row.path}" for row in route_policies(app) if row.policy is None})


def test_every_route_declares_a_policy() -> None:
    assert routes_without_policy(create_app(make_settings())) == []


def test_a_route_without_a_policy_is_found() -> None:
    app = create_app(make_settings())
    stray = APIRouter()

    @stray.post("/api/v1/forgotten")
    def forgotten() -> None:
        return None

    app.include_router(stray)
    assert routes_without_policy(app) == ["POST /api/v1/forgotten"]


# Asking for a CSV of the audit log is a read that takes a while: it makes only the
# auditor's own export, and changes nothing of the platform's.
READS_THAT_POST = {"POST /api/v1/admin/exports/audit", "POST /console/admin/exports/audit"}


def test_the_auditor_can_change_nothing() -> None:
    """No state-changing route admits auditors by their role. (Routes for anyone signed in
    act only on the caller's own account: signing out, their own sessions and password.)"""
    for row in route_policies(create_app(make_settings())):
        if row.method in SAFE_METHODS or row.policy is None:
            continue
        if f"{row.method} {row.path}" in READS_THAT_POST:
            continue
        assert PlatformRole.AUDITOR not in row.policy.platform_roles, f"{row.method} {row.path}"
        assert not row.policy.tenant_roles or row.policy.tenant_scoped


def test_the_openapi_document_carries_each_policy() -> None:
    app = create_app(make_settings())
    document = app.openapi()
    for row in route_policies(app):
        if row.path == "/api/v1/openapi.json":
            continue
        operation = document["paths"][row.path][row.method.lower()]
        assert row.policy is not None
        assert operation["x-darvaza-policy"]["name"] == row.policy.name


def _grant_column(policy: Policy) -> str:
    """The table's third column: the grant a support admin needs to call the route."""
    scope = policy.grant_scope
    if scope is None:
        return ""
    return f"`{scope.data_class}` " + (f"write `{scope.action}`" if scope.action else "read")


def test_the_readme_policy_table_is_the_apps() -> None:
    """The README lists every route with its policy; a new route must be added there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Who may call what", 1)[1].split("\n## ", 1)[0]
    documented = set(
        re.findall(r"^\| `([A-Z]+) ([^`]+)` \| `([a-z_]+)` \| ([^|]*) \|$", section, re.M)
    )
    actual = {
        (row.method, row.path, row.policy.name, _grant_column(row.policy))
        for row in route_policies(create_app(make_settings()))
        if row.policy is not None
    }
    assert documented == actual
