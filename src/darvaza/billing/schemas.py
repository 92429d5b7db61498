"""Shapes of the billing API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from darvaza.billing.models import Subscription
from darvaza.billing.subscriptions import is_active
from darvaza.config import GatewayName

MAX_PRICE_RIALS = 10**13
# No gateway takes a payment under 1,000 Rials (IDPay's and the mock's minimum), so no plan
# is priced below it.
MIN_PRICE_RIALS = 1_000
PaymentState = Literal["created", "pending", "paid", "failed", "cancelled", "expired", "mismatch"]
# A plan's code: what people type and see, and what content names to unlock it.
PLAN_CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,49}$"


class PlanIn(BaseModel):
    code: str = Field(min_length=1, max_length=50, pattern=PLAN_CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    price_rials: int = Field(ge=MIN_PRICE_RIALS, le=MAX_PRICE_RIALS)
    period_days: int = Field(ge=1, le=3660)


class PlanChangeIn(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    price_rials: int | None = Field(default=None, ge=MIN_PRICE_RIALS, le=MAX_PRICE_RIALS)
    period_days: int | None = Field(default=None, ge=1, le=3660)
    active: bool | None = None


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    price_rials: int
    period_days: int
    active: bool


class CheckoutIn(BaseModel):
    plan_code: str = Field(min_length=1, max_length=50)


class CheckoutOut(BaseModel):
    payment_id: uuid.UUID
    order_id: str
    redirect_url: str = Field(
        description="Send the payer here: Darvaza's own link, which leads to the gateway"
    )
    amount_rials: int
    period_days: int


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    plan_id: uuid.UUID
    amount_rials: int
    period_days: int
    gateway: str
    state: str
    gateway_payment_id: str | None
    gateway_reference: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    paid_at: datetime | None
    plan_code: str


class ListedPaymentOut(PaymentOut):
    """A payment in a list: who paid, for which tenant, and whether it is stuck."""

    user_email: str
    tenant_slug: str
    stuck: bool = Field(
        description="Still open past the time its callback or reconciliation should have "
        "settled it: the worker's reconciliation is not keeping up, or the gateway is down"
    )

    @classmethod
    def of(cls, listed: Any) -> ListedPaymentOut:
        return cls.model_validate(
            {
                **PaymentOut.model_validate(listed.payment).model_dump(),
                "user_email": listed.user_email,
                "tenant_slug": listed.tenant_slug,
                "stuck": listed.stuck,
            }
        )


class PaymentAttentionOut(BaseModel):
    mismatch: int = Field(description="Paid with another amount than asked: see the runbook")
    stuck: int


class PaymentPageOut(BaseModel):
    items: list[ListedPaymentOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")
    attention: PaymentAttentionOut = Field(
        description="Platform-wide counts, whatever the filters: payments that need a person"
    )


class PaymentEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    occurred_at: datetime
    kind: str
    message: str
    data: dict[str, Any]


class PaymentDetailOut(PaymentOut):
    events: list[PaymentEventOut]


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    plan_id: uuid.UUID
    plan_code: str
    state: str
    active_now: bool = False
    started_at: datetime
    current_period_end: datetime
    cancel_at_period_end: bool

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionOut:
        out = cls.model_validate(subscription)
        return out.model_copy(update={"active_now": is_active(subscription)})


class SubscriberOut(SubscriptionOut):
    user_email: str


class GatewayChoiceIn(BaseModel):
    gateway: GatewayName | None = Field(description="None: the platform default")
