"""A tenant with its owner, a manager and a customer; a support admin and a platform admin;
and a clock tests move forward."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from darvaza.clock import shift_clock
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.mail import SEND_MAIL
from darvaza.security.roles import PlatformRole, TenantRole
from darvaza.tenants.service import add_member, create_tenant, find_tenant
from tests.support.world import SYSTEM, Api, Person, person


@pytest.fixture(autouse=True)
def _wall_clock_after() -> Iterator[None]:
    """Darvaza's time goes back to the wall clock after each test that moved it."""
    yield
    shift_clock(None)


@dataclass
class Desk:
    """The people of one tenant and of the platform, signed in."""

    api: Api
    tokens: dict[str, str]
    people: dict[str, Person]

    def travel(self, by: timedelta) -> None:
        """Move Darvaza's time forward; everyone signs in again (sessions age with it)."""
        shift_clock(by)
        self.tokens = {name: self.api.login(who) for name, who in self.people.items()}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.call(method, path, token=self.tokens[who], **kwargs)

    def ok(self, who: str, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(who, method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def open_ticket(self, who: str = "customer", tenant: str = "acme", **fields: Any) -> Any:
        body = {"subject": "Cannot download", "body": "The link says expired.", **fields}
        return self.ok(who, "POST", f"/api/v1/tenants/{tenant}/tickets", 201, json=body)

    def request_grant(self, ticket_id: str, tenant: str = "acme", **fields: Any) -> Any:
        body = {"tenant": tenant, "ticket_id": ticket_id, "reason": "Checking the payment",
                "data_classes": ["payments"], "access": "read", **fields}  # fmt: skip
        return self.ok("support", "POST", "/api/v1/support/grants", 201, json=body)

    def approve(self, grant_id: str, who: str = "owner", **fields: Any) -> Any:
        path = f"/api/v1/tenants/acme/support-grants/{grant_id}/approve"
        return self.ok(who, "POST", path, json=fields)

    def mail_to(self, email: str) -> list[dict[str, Any]]:
        with self.api.db.read() as session:
            jobs = session.scalars(select(Job).where(Job.kind == SEND_MAIL)).all()
            return [job.payload for job in jobs if job.payload.get("to") == email]


def build_desk(api: Api) -> Desk:
    db: Database = api.db
    people = {
        "owner": person(db),
        "manager": person(db),
        "customer": person(db),
        "other_owner": person(db),
        "support": person(db, PlatformRole.SUPPORT_ADMIN),
        "support2": person(db, PlatformRole.SUPPORT_ADMIN),
        "admin": person(db, PlatformRole.PLATFORM_ADMIN),
        "admin2": person(db, PlatformRole.PLATFORM_ADMIN),
        "auditor": person(db, PlatformRole.AUDITOR),
    }
    create_tenant(db, SYSTEM, slug="acme", name="Acme", owner_email=people["owner"].email)
    create_tenant(db, SYSTEM, slug="other", name="Other", owner_email=people["other_owner"].email)
    add_member(db, SYSTEM, tenant_id=find_tenant(db, "acme").id,
               email=people["manager"].email, role=TenantRole.MANAGER)  # fmt: skip
    tokens = {name: api.login(who) for name, who in people.items()}
    return Desk(api, tokens, people)


@pytest.fixture
def desk(api: Api) -> Desk:
    return build_desk(api)
