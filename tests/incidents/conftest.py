"""The support desk's people and tenants (owners, a customer, support and platform admins,
an auditor), and helpers for incidents."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import Api
from tests.support_desk.conftest import Desk, _wall_clock_after, build_desk  # noqa: F401


@pytest.fixture
def desk(api: Api) -> Desk:
    return build_desk(api)


INCIDENTS = "/api/v1/admin/incidents"


def declare(desk: Desk, who: str = "admin", status: int = 201, **fields: Any) -> Any:
    body = {"title": "Payments fail", "severity": "SEV2", "components": ["payments"],
            "tenants": ["acme"], **fields}  # fmt: skip
    return desk.ok(who, "POST", INCIDENTS, status, json=body)


def act(desk: Desk, incident_id: str, path: str, who: str = "admin", expect: int = 200,
        method: str = "POST", **body: Any) -> Any:  # fmt: skip
    return desk.ok(who, method, f"{INCIDENTS}/{incident_id}{path}", expect, json=body)


def timeline(desk: Desk, incident_id: str, who: str = "admin") -> list[dict[str, Any]]:
    return list(desk.ok(who, "GET", f"{INCIDENTS}/{incident_id}/timeline")["items"])


def kinds(desk: Desk, incident_id: str) -> list[str]:
    return [event["kind"] for event in timeline(desk, incident_id)]
