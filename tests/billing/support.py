"""A tenant with a plan and a customer, made through the real services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from darvaza.billing.checkout import Checkout, send_payer_to_gateway, start_checkout
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.mock import settle_mock_payment
from darvaza.billing.models import Payment
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


def count_rows(db: Database, model: type, *where: object) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def payment_by_order(db: Database, order_id: str) -> Payment:
    with db.read() as session:
        return session.scalars(select(Payment).where(Payment.order_id == order_id)).one()


def paid_without_callback(shop: Shop) -> tuple[str, dict[str, str]]:
    """The payer paid on the mock gateway and closed the browser: no callback came."""
    checkout = shop.checkout()
    send_payer_to_gateway(shop.db, checkout.order_id)
    returned = settle_mock_payment(shop.db, checkout.gateway_url.rsplit("/", 1)[1], pay=True)
    assert returned is not None
    return checkout.order_id, returned.fields
