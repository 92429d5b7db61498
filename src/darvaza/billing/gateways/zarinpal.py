"""Zarinpal v4: request, verify, inquiry, and its callback (GET `Authority` and `Status`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from darvaza.billing.gateways.base import (
    CallbackData,
    CallbackRejected,
    Created,
    CreateRequest,
    GatewayError,
    Inquiry,
    Outcome,
    PaymentRef,
    Verification,
    bounded_fields,
    post_json,
)

VERIFIED, ALREADY_VERIFIED = 100, 101
SANDBOX_BASE_URL = "https://sandbox.zarinpal.com/pg"
PRODUCTION_BASE_URL = "https://payment.zarinpal.com/pg"
# Worth asking again later, as opposed to a refusal: Zarinpal's own trouble (-1, -2), and
# -51, "payment not successful": at verify, the payer has not paid (yet), which a forged
# early `OK` callback also leads to; reconciliation settles such a payment.
NOT_PAID_YET = "-51"
RETRYABLE_ERRORS = frozenset({"-1", "-2", NOT_PAID_YET})
CALLBACK_FIELDS: tuple[str, ...] = ("Authority", "Status")
# Inquiry's status words.
INQUIRY_OUTCOMES = {
    "VERIFIED": Outcome.PAID,
    "PAID": Outcome.VERIFY,
    "IN_BANK": Outcome.PENDING,
    "FAILED": Outcome.FAILED,
    "REVERSED": Outcome.FAILED,
}


def read_zarinpal_callback(fields: Mapping[str, str]) -> CallbackData:
    authority = (fields.get("Authority") or "").strip()
    status = (fields.get("Status") or "").strip()
    if not authority or not status:
        raise CallbackRejected("missing Authority or Status")
    if len(authority) > 100:
        raise CallbackRejected("Authority is longer than any Zarinpal issues")
    if status not in ("OK", "NOK"):
        raise CallbackRejected(f"Status {status[:20]!r} is neither OK nor NOK")
    outcome = Outcome.VERIFY if status == "OK" else Outcome.FAILED
    return CallbackData(status, outcome, None, authority, bounded_fields(fields, CALLBACK_FIELDS))


class ZarinpalGateway:
    name = "zarinpal"
    callback_fields = CALLBACK_FIELDS

    def __init__(
        self,
        *,
        merchant_id: str,
        base_url: str,
        sandbox: bool,
        timeout_seconds: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if sandbox and base_url.rstrip("/") == PRODUCTION_BASE_URL:
            base_url = SANDBOX_BASE_URL
        self.base_url = base_url.rstrip("/")
        self.merchant_id = merchant_id
        self.http = httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout_seconds), transport=transport
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = post_json(
            self.http, path, {"merchant_id": self.merchant_id, **body}, gateway="Zarinpal"
        )
        data = answer.get("data")
        if isinstance(data, dict) and data.get("code") in (VERIFIED, ALREADY_VERIFIED):
            return data
        errors = answer.get("errors")
        error = errors if isinstance(errors, dict) else data if isinstance(data, dict) else {}
        code = str(error.get("code", f"http_{status}"))
        message = str(error.get("message", "no message"))[:500]
        retryable = status >= 500 or code in RETRYABLE_ERRORS
        raise GatewayError(code, message, retryable=retryable)

    def create(self, request: CreateRequest) -> Created:
        metadata: dict[str, str] = {"order_id": request.order_id}
        if request.email:
            metadata["email"] = request.email
        data = self._post(
            "/v4/payment/request.json",
            {
                "amount": request.amount_rials,
                "currency": "IRR",
                "description": request.description[:255],
                "callback_url": request.callback_url,
                "metadata": metadata,
            },
        )
        authority = data.get("authority")
        if not authority:
            raise GatewayError(
                "unreadable", "Zarinpal's answer lacks an authority", retryable=False
            )
        return Created(str(authority), f"{self.base_url}/StartPay/{authority}")

    def verify(self, payment: PaymentRef) -> Verification:
        data = self._post(
            "/v4/payment/verify.json",
            {"authority": payment.gateway_payment_id, "amount": payment.amount_rials},
        )
        code = int(data["code"])
        # Zarinpal verifies against the amount we send and answers for the authority we
        # send: a different amount is refused by Zarinpal itself, so both are confirmed.
        return Verification(
            outcome=Outcome.PAID,
            status=str(code),
            already_verified=code == ALREADY_VERIFIED,
            order_id=payment.order_id,
            gateway_payment_id=payment.gateway_payment_id,
            amount_rials=payment.amount_rials,
            reference=str(data["ref_id"]) if data.get("ref_id") is not None else None,
            card_masked=str(data["card_pan"])[:32] if data.get("card_pan") else None,
            raw=dict(data),
        )

    def inquire(self, payment: PaymentRef) -> Inquiry:
        data = self._post("/v4/payment/inquiry.json", {"authority": payment.gateway_payment_id})
        status = str(data.get("status", ""))
        outcome = INQUIRY_OUTCOMES.get(status)
        if outcome is None:
            raise GatewayError(
                "unreadable", f"unknown inquiry status {status[:20]!r}", retryable=True
            )
        return Inquiry(outcome=outcome, status=status, raw=dict(data))

    def read_callback(self, fields: Mapping[str, str]) -> CallbackData:
        return read_zarinpal_callback(fields)
