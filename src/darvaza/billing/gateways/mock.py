"""The built-in mock gateway, for local use: it keeps its own book and speaks IDPay's
protocol, so its callback reaches Darvaza exactly as IDPay's does (same fields, same
statuses) and runs the same code path. The payer's side is a small page: pay or cancel."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from darvaza.billing.gateways.base import (
    CallbackData,
    Created,
    CreateRequest,
    GatewayError,
    Inquiry,
    PaymentRef,
    Verification,
)
from darvaza.billing.gateways.idpay import (
    CALLBACK_FIELDS,
    NOT_VERIFIABLE_YET,
    idpay_error,
    read_idpay_callback,
    read_idpay_inquiry,
    read_idpay_verification,
)
from darvaza.billing.models import MockGatewayPayment
from darvaza.clock import utcnow
from darvaza.db import Database

NOT_PAID, CANCELLED, AWAITING_VERIFICATION, VERIFIED = 1, 7, 10, 100
MOCK_CARD = "603799******1234"


class MockGateway:
    name = "mock"
    callback_fields = CALLBACK_FIELDS

    def __init__(self, db: Database, public_url: str) -> None:
        self.db = db
        self.public_url = public_url.rstrip("/")

    def create(self, request: CreateRequest) -> Created:
        if request.amount_rials < 1000:
            raise GatewayError("34", "amount is below the minimum of 1,000 Rials", retryable=False)
        payment_id = secrets.token_hex(16)
        with self.db.transaction() as session:
            session.add(
                MockGatewayPayment(
                    id=payment_id,
                    order_id=request.order_id,
                    amount_rials=request.amount_rials,
                    callback_url=request.callback_url,
                    status=NOT_PAID,
                    track_id=str(secrets.randbelow(10**12)).zfill(12),
                    created_at=utcnow(),
                )
            )
        return Created(payment_id, f"{self.public_url}/mock-gateway/{payment_id}")

    def _answer(self, book: MockGatewayPayment, status: int) -> dict[str, Any]:
        return {
            "status": status,
            "track_id": book.track_id,
            "id": book.id,
            "order_id": book.order_id,
            "amount": book.amount_rials,
            "payment": {"card_no": MOCK_CARD, "amount": book.amount_rials},
        }

    def verify(self, payment: PaymentRef) -> Verification:
        """IDPay's verify: 100 the first time, 101 after; a payment not awaiting
        verification cannot be verified (error 53)."""
        with self.db.transaction() as session:
            book = session.get(MockGatewayPayment, payment.gateway_payment_id)
            if book is None or book.order_id != payment.order_id:
                raise GatewayError("52", "no such payment", retryable=False)
            if book.status == VERIFIED:
                return read_idpay_verification(self._answer(book, 101))
            if book.status != AWAITING_VERIFICATION:
                raise idpay_error(NOT_VERIFIABLE_YET, "verification is not possible")
            book.status, book.verified_at = VERIFIED, utcnow()
            return read_idpay_verification(self._answer(book, VERIFIED))

    def inquire(self, payment: PaymentRef) -> Inquiry:
        with self.db.read() as session:
            book = session.get(MockGatewayPayment, payment.gateway_payment_id)
            if book is None or book.order_id != payment.order_id:
                raise GatewayError("52", "no such payment", retryable=False)
            return read_idpay_inquiry(self._answer(book, book.status))

    def read_callback(self, fields: Mapping[str, str]) -> CallbackData:
        return read_idpay_callback(fields)


@dataclass(frozen=True)
class MockCheckoutPage:
    payment_id: str
    order_id: str
    amount_rials: int
    status: int


@dataclass(frozen=True)
class MockReturn:
    """Where the payer's browser goes next, and the form it carries (IDPay's POST fields)."""

    callback_url: str
    fields: dict[str, str]


def find_mock_payment(db: Database, payment_id: str) -> MockCheckoutPage | None:
    with db.read() as session:
        book = session.scalars(
            select(MockGatewayPayment).where(MockGatewayPayment.id == payment_id)
        ).one_or_none()
        if book is None:
            return None
        return MockCheckoutPage(book.id, book.order_id, book.amount_rials, book.status)


def settle_mock_payment(db: Database, payment_id: str, *, pay: bool) -> MockReturn | None:
    """The payer pays or cancels. Once settled, a payment stays settled (as at a bank)."""
    with db.transaction() as session:
        book = session.get(MockGatewayPayment, payment_id)
        if book is None:
            return None
        if book.status == NOT_PAID:
            book.status = AWAITING_VERIFICATION if pay else CANCELLED
            book.paid_at = utcnow() if pay else None
        card_hash = hashlib.sha256(MOCK_CARD.encode()).hexdigest().upper()
        paid_at = book.paid_at or utcnow()
        fields = {
            "status": str(book.status),
            "track_id": book.track_id,
            "id": book.id,
            "order_id": book.order_id,
            "amount": str(book.amount_rials),
            "card_no": MOCK_CARD,
            "hashed_card_no": card_hash,
            "date": str(int(paid_at.timestamp())),
        }
        return MockReturn(book.callback_url, fields)
