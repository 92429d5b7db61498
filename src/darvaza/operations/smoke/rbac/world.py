"""The world the RBAC matrix calls routes in: two tenants, an owner of each, a manager, a
customer and one member of each platform role, from the smoke fixture (the admin API)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from darvaza.operations.smoke.client import SmokeClient, SmokeFailed
from darvaza.operations.smoke.fixture import smoke_fixture
from darvaza.operations.smoke.payments import call_back, follow_go_link, pay_with_mock

CALLERS = (
    "anonymous",
    "customer",
    "owner",
    "other_owner",
    "manager",
    "platform_admin",
    "support_admin",
    "auditor",
)
PLATFORM_ROLE = {
    "platform_admin": "platform_admin",
    "support_admin": "support_admin",
    "auditor": "auditor",
}
TENANT_ROLE = {"owner": "owner", "manager": "manager"}  # their role in the world's tenant
# Accounts a run makes managers of, or gives a platform role, to try the routes that do:
# the fixture's, so no run adds an account (and the fixture puts them back each run).
SPARES = tuple(f"spare-{n}" for n in range(1, 11))
# Public routes behind a rate limit are sampled with these callers only, so one run
# spends three of each limit instead of eight.
RATE_LIMITED_SAMPLE = ("anonymous", "customer", "platform_admin")

_CALLER_TOKEN = object()  # a Call's default: the caller's own session token


@dataclass
class Member:
    email: str
    password: str
    user_id: str
    token: str = ""


@dataclass
class Call:
    path: str
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    cookies: dict[str, str] | None = None
    token: Any = _CALLER_TOKEN
    authorization: str | None = None  # a raw Authorization header, for malformed ones
    also_ok: frozenset[int] = frozenset()
    on_success: Callable[[httpx.Response], None] | None = None


@dataclass(frozen=True)
class Example:
    """How to call one route as a given caller. `build(world, caller, admitted)` does the
    setup a call needs only when the caller is `admitted` (expected to succeed); anyone
    else gets a placeholder id, which the policy must refuse before it is ever looked up."""

    build: Callable[[World, str, bool], Call]
    callers: tuple[str, ...] = CALLERS
    # Calls that reach for someone else's object: each must answer 404.
    foreign: Callable[[World], list[tuple[str, Call]]] | None = None


class World:
    """The people and tenants the matrix calls with, made through the admin API."""

    def __init__(self, client: SmokeClient, admin_token: str) -> None:
        self.client = client
        self.admin_token = admin_token
        self.run = secrets.token_hex(4)
        self.counter = 0
        self.members: dict[str, Member] = {}
        self.spares: list[Member] = []
        self.tenant = self.other_tenant = ""  # the smoke fixture's, once built
        self.plan: dict[str, Any] = {}
        self.item = ""
        self.subscribed: set[str] = set()
        self.payment: dict[str, Any] = {}
        self.mock_id = ""
        self.ticket = ""  # the customer's ticket in the world's tenant

    def unique(self, what: str) -> str:
        self.counter += 1
        return f"smoke-{self.run}-{what}-{self.counter}"

    def admin(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.expect(status, method, path, token=self.admin_token, **kwargs)
        return response.json() if response.content else None

    def spare(self) -> Member:
        """An account of the fixture's nobody else in this run has used."""
        if not self.spares:
            raise SmokeFailed(f"The RBAC world used all {len(SPARES)} spare accounts: add more.")
        return self.spares.pop(0)

    def login(self, member: Member) -> tuple[str, str]:
        body = self.client.expect(
            200,
            "POST",
            "/api/v1/auth/login",
            json={"email": member.email, "password": member.password},
        ).json()
        return body["token"], body["session_id"]

    def token_of(self, caller: str) -> str | None:
        return None if caller == "anonymous" else self.members[caller].token

    def add_manager(self, tenant: str) -> Member:
        member = self.spare()
        path = f"/api/v1/admin/tenants/{tenant}/managers"
        self.admin(201, "POST", path, json={"email": member.email})
        return member

    def create_plan(self, tenant: str) -> dict[str, Any]:
        body = {
            "code": self.unique("plan"),
            "name": "Smoke plan",
            "price_rials": 150_000,
            "period_days": 30,
        }
        return dict(self.admin(201, "POST", f"/api/v1/tenants/{tenant}/plans", json=body))

    def checkout(self, member: Member) -> dict[str, Any]:
        response = self.client.expect(
            201,
            "POST",
            f"/api/v1/tenants/{self.tenant}/checkout",
            token=member.token,
            json={"plan_code": self.plan["code"]},
        )
        return dict(response.json())

    def pay(self, member: Member) -> str:
        """Buy the world's plan through the mock gateway; the new subscription's id."""
        _, fields = pay_with_mock(self.client, member.token, self.tenant, self.plan["code"])
        call_back(self.client, fields)
        mine = self.client.expect(200, "GET", "/api/v1/me/subscriptions", token=member.token).json()
        return str(
            next(s["id"] for s in mine if s["plan_id"] == self.plan["id"] and s["active_now"])
        )

    def upload(self, *, publish: bool) -> str:
        made = self.admin(
            201,
            "POST",
            f"/api/v1/tenants/{self.tenant}/content",
            data={"title": self.unique("item")},
            files=SMOKE_FILE,
        )
        if publish:
            self.admin(200, "POST", f"/api/v1/tenants/{self.tenant}/content/{made['id']}/publish")
        return str(made["id"])

    def ensure_subscribed(self, caller: str) -> None:
        if caller not in self.subscribed and caller not in ("owner", "manager", "platform_admin"):
            self.pay(self.members[caller])
            self.subscribed.add(caller)

    def download_link(self) -> str:
        self.ensure_subscribed("customer")
        path = f"/api/v1/tenants/{self.tenant}/content/{self.item}/download-token"
        url = self.client.expect(201, "POST", path, token=self.members["customer"].token).json()[
            "url"
        ]
        return "/api/v1/downloads/" + str(url).rsplit("/", 1)[1]

    def call_as(self, caller: str, status: int, method: str, path: str, **kwargs: Any) -> Any:
        token = self.members[caller].token
        return self.client.expect(status, method, path, token=token, **kwargs).json()

    def open_ticket(self, caller: str) -> str:
        body = {"subject": self.unique("ticket"), "body": "An RBAC probe's ticket."}
        path = f"/api/v1/tenants/{self.tenant}/tickets"
        return str(self.call_as(caller, 201, "POST", path, json=body)["id"])

    def ask_for_grant(self, scope: dict[str, Any]) -> str:
        """A support access request of the support admin's, for the world's ticket."""
        body = {"tenant": self.tenant, "ticket_id": self.ticket, "reason": self.unique("grant"),
                **scope}  # fmt: skip
        return str(self.call_as("support_admin", 201, "POST", "/api/v1/support/grants",
                                json=body)["id"])  # fmt: skip

    def withdrawn_grant(self) -> str:
        """A request the support admin asked for and took back: every decision on it is
        refused (409), past the policy, so the matrix approves or revokes nothing."""
        grant_id = self.ask_for_grant({"data_classes": ["tickets"]})
        path = f"/api/v1/support/grants/{grant_id}/withdraw"
        self.call_as("support_admin", 200, "POST", path, json={})
        return grant_id

    def build(self) -> None:
        """The callers and the two tenants come from the smoke fixture (reused run after
        run); the plan, the payment and the item are this run's, in the fixture's tenant."""
        labels = {caller: caller.replace("_", "-") for caller in CALLERS[1:]}
        wanted = {label: PLATFORM_ROLE.get(caller) for caller, label in labels.items()}
        fixture = smoke_fixture(
            self.client, self.admin_token, {**wanted, **dict.fromkeys(SPARES)}, sign_in=False
        )
        self.tenant, self.other_tenant = fixture.tenant, fixture.other_tenant
        members = {
            label: Member(account.email, account.password, account.user_id, account.token)
            for label, account in fixture.accounts.items()
        }
        self.members = {caller: members[label] for caller, label in labels.items()}
        for member in self.members.values():
            member.token = self.login(member)[0]
        self.spares = [members[label] for label in SPARES]
        # The fixture has made every one of its accounts a manager no longer.
        self.admin(
            201, "POST", f"/api/v1/admin/tenants/{self.tenant}/managers",
            json={"email": self.members["manager"].email},
        )  # fmt: skip
        self.plan = self.create_plan(self.tenant)
        self.payment = self.checkout(self.members["customer"])
        self.mock_id = follow_go_link(self.client, self.payment["redirect_url"]).rsplit("/", 1)[1]
        self.item = self.upload(publish=True)
        self.ticket = self.open_ticket("customer")


# --- The examples: one per route --------------------------------------------------------


SMOKE_FILE = {"file": ("smoke.txt", b"smoke test file\n", "text/plain")}
