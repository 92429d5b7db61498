"""Billing tables.

The guarantees live here as constraints, not in timing:
- a payment's gateway id and gateway reference are unique per gateway, so one receipt can
  never pay for two orders;
- `subscription_activations.payment_id` is unique, so a payment activates at most once;
- one subscription row per (tenant, customer, plan): a renewal extends it.
`payment_events` is the payment's timeline, append-only like the audit log.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from darvaza.db import Base
from darvaza.states import table

# Payment: created → pending (sent to the gateway) → paid | failed | cancelled | expired,
# or mismatch when the gateway's verified answer disagrees with ours. A payment failed on
# an answer that was not final reopens when the gateway later says paid.
PAYMENT = table(
    "payment",
    created="pending failed expired",
    pending="paid failed cancelled expired mismatch",
    failed="pending",
)
# Subscription: active → expired | cancelled; a renewal extends an active one, and a paid
# renewal of an ended one makes it active again.
SUBSCRIPTION = table(
    "subscription", active="expired cancelled", expired="active", cancelled="active"
)

EventId = BigInteger().with_variant(Integer(), "sqlite")


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("price_rials > 0", name="price_positive"),
        CheckConstraint("period_days > 0", name="period_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    price_rials: Mapped[int] = mapped_column(BigInteger)
    period_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("gateway", "gateway_payment_id"),
        UniqueConstraint("gateway", "gateway_reference"),
        CheckConstraint(
            "state IN ('created', 'pending', 'paid', 'failed', 'cancelled', 'expired', 'mismatch')",
            name="state_known",
        ),
        CheckConstraint("amount_rials > 0", name="amount_positive"),
        CheckConstraint("period_days > 0", name="period_positive"),
        Index("ix_payments_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_payments_user_id_created_at", "user_id", "created_at"),
        Index("ix_payments_state_updated_at", "state", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Darvaza's own order id: the one reference every gateway call and callback carries.
    order_id: Mapped[str] = mapped_column(String(50), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"))
    # The plan's terms as shown at checkout: what the payer pays for, whatever the
    # tenant changes on the plan afterwards.
    amount_rials: Mapped[int] = mapped_column(BigInteger)
    period_days: Mapped[int] = mapped_column(Integer)
    gateway: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    # IDPay's `id` / Zarinpal's `authority`: known once the gateway accepted the payment.
    gateway_payment_id: Mapped[str | None] = mapped_column(String(100))
    # IDPay's `track_id` / Zarinpal's `ref_id`: known once the payment is verified.
    gateway_reference: Mapped[str | None] = mapped_column(String(100))
    failure_code: Mapped[str | None] = mapped_column(String(50))
    failure_message: Mapped[str | None] = mapped_column(Text)
    card_number_masked: Mapped[str | None] = mapped_column(String(32))
    # The gateway's page for the payer. The payer reaches it only through our own link
    # (`/payments/go/<order id>`), which notes when: a payment whose payer never went
    # there cannot have been paid, and expires without asking the gateway.
    gateway_url: Mapped[str | None] = mapped_column(String(2048))
    sent_to_payer_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]

    plan: Mapped[Plan] = relationship(lazy="selectin")

    @property
    def plan_code(self) -> str:
        return self.plan.code


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    __table_args__ = (
        Index("ix_payment_events_payment_id_id", "payment_id", "id"),
        # Counting one kind in a recent window (the ops checks: rejected callbacks).
        Index("ix_payment_events_kind_occurred_at", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "plan_id"),
        CheckConstraint("state IN ('active', 'expired', 'cancelled')", name="state_known"),
        Index("ix_subscriptions_tenant_id_state", "tenant_id", "state"),
        Index("ix_subscriptions_state_current_period_end", "state", "current_period_end"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    current_period_end: Mapped[datetime]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    plan: Mapped[Plan] = relationship(lazy="selectin")

    @property
    def plan_code(self) -> str:
        return self.plan.code


class SubscriptionActivation(Base):
    """One row per paid period. The unique payment id is the database's promise that no
    payment ever activates twice, however many callbacks race."""

    __tablename__ = "subscription_activations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id", ondelete="RESTRICT"), unique=True
    )
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime]


class MockGatewayPayment(Base):
    """The built-in mock gateway's own book, kept apart from Darvaza's payments the way a
    real gateway's would be."""

    __tablename__ = "mock_gateway_payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(50))
    amount_rials: Mapped[int] = mapped_column(BigInteger)
    callback_url: Mapped[str] = mapped_column(String(2048))
    # IDPay's codes: 1 created (not paid), 7 cancelled by the payer, 10 awaiting verification,
    # 100 verified.
    status: Mapped[int] = mapped_column(Integer)
    track_id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
