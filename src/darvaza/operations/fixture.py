"""The smoke fixture: what the smoke checks run with on a live instance, made once and
reused, so that running them every day leaves nothing new behind.

Two tenants marked synthetic (`smoke`, and `smoke-other` for what must stay another
tenant's), each on the mock gateway with its own owner; a plan to buy; and the accounts a
run asks for by label (`smoke-<label>@example.com`, `example.com` being reserved, so no
real person has them). Each call gives every account a new random password (ending its
sessions and tokens, so nothing from an earlier run still works), puts back the platform
role asked for, ends their subscriptions to the two tenants and their places as managers
there (a run makes its spare accounts managers to try the routes that do), and answers
the passwords once: they are stored only as hashes, like any other. Every change is
audited by the service that makes it.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from darvaza.billing import service as billing
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import Conflict, InvalidInput, NotFound
from darvaza.identity import service as identity
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole, TenantRole
from darvaza.tenants import service as tenants

SMOKE_TENANT = "smoke"
OTHER_TENANT = "smoke-other"
PLAN_CODE = "smoke"
# The tenants' owners: always part of the fixture.
OWNERS = {SMOKE_TENANT: "owner", OTHER_TENANT: "other-owner"}
LABEL = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MAX_ACCOUNTS = 20


@dataclass(frozen=True)
class AccountWanted:
    label: str
    platform_role: PlatformRole | None = None


@dataclass(frozen=True)
class FixtureAccount:
    label: str
    email: str
    password: str
    user_id: uuid.UUID
    platform_role: PlatformRole | None


@dataclass(frozen=True)
class Fixture:
    tenant: str
    other_tenant: str
    plan_code: str
    accounts: dict[str, FixtureAccount]


def smoke_email(label: str) -> str:
    return f"smoke-{label}@example.com"


def _checked(wanted: Sequence[AccountWanted]) -> list[AccountWanted]:
    found = {label: AccountWanted(label) for label in OWNERS.values()}
    for account in wanted:
        if not LABEL.match(account.label):
            raise InvalidInput(
                f"An account label is a-z, 0-9 and '-', starting with a letter: {account.label!r}.",
                code="invalid_label",
            )
        if account.label in found and found[account.label] != account:
            if account.label in OWNERS.values():
                raise InvalidInput(f"{account.label} is a tenant's owner.", code="invalid_label")
            raise InvalidInput(f"{account.label} is asked for twice.", code="invalid_label")
        found[account.label] = account
    if len(found) > MAX_ACCOUNTS:
        raise InvalidInput(f"At most {MAX_ACCOUNTS} accounts.", code="too_many_accounts")
    return list(found.values())


def _account(
    db: Database, settings: Settings, actor: Actor, wanted: AccountWanted
) -> FixtureAccount:
    email = smoke_email(wanted.label)
    password = secrets.token_urlsafe(24)
    existing = identity.list_users(db, email=email, limit=1)
    if existing:
        user = existing[0]
        if user.platform_role != (wanted.platform_role.value if wanted.platform_role else None):
            identity.set_platform_role(db, actor, user_id=user.id, role=wanted.platform_role)
        identity.set_password(
            db, actor, email=email, new_password=password, min_length=settings.password_min_length
        )
    else:
        user = identity.create_user(
            db, actor, email=email, password=password,
            min_length=settings.password_min_length, platform_role=wanted.platform_role,
        )  # fmt: skip
    return FixtureAccount(wanted.label, email, password, user.id, wanted.platform_role)


def _refuse_real_tenants(db: Database) -> None:
    """Before anything changes: a real tenant with one of the slugs is never taken over."""
    for slug in OWNERS:
        try:
            tenant = tenants.find_tenant(db, slug)
        except NotFound:
            continue
        if not tenant.synthetic:
            raise Conflict(
                f"The tenant {slug} is a real one, not the smoke checks': rename it first.",
                code="not_synthetic",
            )


def _tenant(db: Database, actor: Actor, slug: str, owner_email: str) -> uuid.UUID:
    try:
        tenant = tenants.find_tenant(db, slug)
    except NotFound:
        tenant = tenants.create_tenant(
            db, actor, slug=slug, name=f"Smoke checks ({slug})", owner_email=owner_email,
            synthetic=True,
        )  # fmt: skip
    if tenant.payment_gateway != "mock":
        tenants.set_payment_gateway(db, actor, tenant_id=tenant.id, gateway="mock")
    return tenant.id


def prepare_smoke_fixture(
    db: Database, settings: Settings, actor: Actor, wanted: Sequence[AccountWanted]
) -> Fixture:
    """Make or refresh the fixture (see the module's note); idempotent, so a run cut short
    is finished by the next."""
    checked = _checked(wanted)
    _refuse_real_tenants(db)
    accounts = {account.label: _account(db, settings, actor, account) for account in checked}
    tenant_ids = {
        slug: _tenant(db, actor, slug, accounts[label].email) for slug, label in OWNERS.items()
    }
    smoke_id = tenant_ids[SMOKE_TENANT]
    plan = next(
        (p for p in billing.list_plans(db, smoke_id, include_retired=True)
         if p.code == PLAN_CODE),
        None,
    )  # fmt: skip
    if plan is not None and not plan.active:
        billing.update_plan(db, actor, tenant_id=smoke_id, plan_id=plan.id, active=True)
    if plan is None:
        billing.create_plan(
            db, actor, tenant_id=smoke_id, code=PLAN_CODE, name="Smoke", price_rials=150_000,
            period_days=30,
        )  # fmt: skip
    user_ids = [account.user_id for account in accounts.values()]
    for tenant_id in tenant_ids.values():
        billing.end_subscriptions(db, actor, tenant_id=tenant_id, user_ids=user_ids)
        for member in tenants.list_members(db, tenant_id):
            if member.role == TenantRole.MANAGER and member.user_id in user_ids:
                tenants.remove_manager(db, actor, tenant_id=tenant_id, user_id=member.user_id)
    return Fixture(SMOKE_TENANT, OTHER_TENANT, PLAN_CODE, accounts)
