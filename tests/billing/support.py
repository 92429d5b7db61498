"""A tenant with a plan and a customer, made through the real services."""

from __future__ import annotations

from dataclasses import dataclass

from darvaza.billing.checkout import Checkout, start_checkout
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.plans import create_plan
from darvaza.db import Database
from darvaza.tenants.models import Tenant
from darvaza.tenants.service import create_tenant, set_payment_gateway
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Person, person

PUBLIC_URL = "http://127.0.0.1:4000"


@dataclass
class Shop:
    db: Database
    gateways: GatewayRegistry
    tenant: Tenant
    customer: Person

    def checkout(self, plan_code: str = "gold", customer: Person | None = None) -> Checkout:
        who = customer or self.customer
        return start_checkout(
            self.db, self.gateways, user_id=who.user.id, email=who.email, tenant_id=self.tenant.id,
            plan_code=plan_code, public_url=PUBLIC_URL,
        )  # fmt: skip


def open_shop(
    db: Database,
    *,
    gateways: GatewayRegistry | None = None,
    gateway: str | None = None,
    **settings: object,
) -> Shop:
    """A shop; with `gateway`, its tenant pays through that gateway instead of the default."""
    owner = person(db)
    tenant = create_tenant(db, SYSTEM, slug="acme", name="Acme", owner_email=owner.email)
    create_plan(
        db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold", price_rials=150_000,
        period_days=30,
    )  # fmt: skip
    registry = gateways or GatewayRegistry(
        make_settings(database_url=db.url.render_as_string(hide_password=False), **settings), db
    )
    if gateway is not None:
        tenant = set_payment_gateway(db, SYSTEM, tenant_id=tenant.id, gateway=gateway)
    return Shop(db, registry, tenant, person(db))
