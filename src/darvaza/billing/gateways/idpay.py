"""IDPay web service v1.1 (see the gateway notes in the README): create, verify, inquiry,
and its callback (POST form or GET query; the same reading for both)."""

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
    parse_int,
    post_json,
)

# IDPay's payment statuses and what each means for us.
STATUS_OUTCOMES: dict[int, Outcome] = {
    1: Outcome.FAILED,  # payment not made
    2: Outcome.FAILED,  # payment failed
    3: Outcome.FAILED,  # error
    4: Outcome.FAILED,  # blocked
    5: Outcome.FAILED,  # returned to the payer
    6: Outcome.FAILED,  # reversed by the system
    7: Outcome.CANCELLED,  # cancelled by the payer
    8: Outcome.PENDING,  # payer sent to the bank
    10: Outcome.VERIFY,  # awaiting the merchant's verification
    100: Outcome.PAID,  # verified
    101: Outcome.PAID,  # already verified
    200: Outcome.PAID,  # paid out to the merchant
}
NOT_MADE = 1
ALREADY_VERIFIED = 101
# Error codes worth asking about again later: IDPay's own trouble (-1, 15), and 53, "not
# verifiable": the payer has not paid (yet). A callback anyone can forge before the payer
# pays leads to 53, so 53 must leave the payment open; reconciliation settles it.
NOT_VERIFIABLE_YET = "53"
RETRYABLE_ERRORS = frozenset({"-1", "15", NOT_VERIFIABLE_YET})
MAX_ID_LENGTH = 100
# What a callback may carry that is worth keeping on the payment's timeline (the card
# hash is not: the masked number is all a receipt needs).
CALLBACK_FIELDS: tuple[str, ...] = (
    "status",
    "track_id",
    "id",
    "order_id",
    "amount",
    "card_no",
    "date",
)


def idpay_error(code: str, message: str, *, http_status: int = 400) -> GatewayError:
    """An IDPay error answer as a `GatewayError`, retryable when asking later can help."""
    retryable = http_status >= 500 or code in RETRYABLE_ERRORS
    return GatewayError(code, message, retryable=retryable)


def outcome_of(status: int) -> Outcome:
    outcome = STATUS_OUTCOMES.get(status)
    if outcome is None:
        raise CallbackRejected(f"status {status} is not in IDPay's table")
    return outcome


def read_idpay_callback(fields: Mapping[str, str]) -> CallbackData:
    """Read IDPay's callback fields (status, track_id, id, order_id; the POST form adds
    amount, card_no, hashed_card_no, date). Only the ids and status steer what happens."""
    missing = [name for name in ("status", "id", "order_id") if not fields.get(name)]
    if missing:
        raise CallbackRejected(f"missing {', '.join(missing)}")
    gateway_payment_id = fields["id"].strip()
    order_id = fields["order_id"].strip()
    if len(gateway_payment_id) > MAX_ID_LENGTH or len(order_id) > MAX_ID_LENGTH:
        raise CallbackRejected("an id is longer than any IDPay issues")
    status = parse_int(fields["status"], "status")
    kept = bounded_fields(fields, CALLBACK_FIELDS)
    return CallbackData(str(status), outcome_of(status), order_id, gateway_payment_id, kept)


def read_idpay_verification(body: Mapping[str, Any]) -> Verification:
    """Read a verify or inquiry answer (HTTP 200)."""
    try:
        status = parse_int(body.get("status"), "status")
        outcome = outcome_of(status)
        amount = body.get("amount")
        nested = body.get("payment")
        payment: Mapping[str, Any] = nested if isinstance(nested, dict) else {}
        return Verification(
            outcome=outcome,
            status=str(status),
            already_verified=status == ALREADY_VERIFIED,
            order_id=str(body["order_id"]) if body.get("order_id") is not None else None,
            gateway_payment_id=str(body["id"]) if body.get("id") is not None else None,
            amount_rials=parse_int(amount, "amount") if amount is not None else None,
            reference=str(body["track_id"]) if body.get("track_id") is not None else None,
            card_masked=str(payment.get("card_no"))[:32] if payment.get("card_no") else None,
            raw=dict(body),
        )
    except CallbackRejected as exc:
        raise GatewayError("unreadable", f"IDPay's answer: {exc}", retryable=True) from None


def read_idpay_inquiry(body: Mapping[str, Any]) -> Inquiry:
    """Read an inquiry answer. Status 1 ("payment not made") is final in a callback, when
    the payer has left the gateway; asked about by us, the payer may still be paying, so
    it only means "not yet"."""
    answer = read_idpay_verification(body)
    outcome = Outcome.PENDING if answer.status == str(NOT_MADE) else answer.outcome
    return Inquiry(outcome, answer.status, answer.raw)


class IdPayGateway:
    name = "idpay"
    callback_fields = CALLBACK_FIELDS

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        sandbox: bool,
        timeout_seconds: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-KEY": api_key, "Content-Type": "application/json"}
        if sandbox:
            headers["X-SANDBOX"] = "1"
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
        )

    def _post(self, path: str, body: dict[str, Any], *, expected: int) -> dict[str, Any]:
        status, answer = post_json(self.http, path, body, gateway="IDPay")
        if status != expected:
            code = str(answer.get("error_code", f"http_{status}"))
            message = str(answer.get("error_message", "no message"))[:500]
            raise idpay_error(code, message, http_status=status)
        return answer

    def create(self, request: CreateRequest) -> Created:
        body: dict[str, Any] = {
            "order_id": request.order_id,
            "amount": request.amount_rials,
            "callback": request.callback_url,
            "desc": request.description[:255],
        }
        if request.email:
            body["mail"] = request.email
        answer = self._post("/payment", body, expected=201)
        payment_id, link = answer.get("id"), answer.get("link")
        if not payment_id or not link:
            raise GatewayError("unreadable", "IDPay's answer lacks id or link", retryable=False)
        return Created(str(payment_id), str(link))

    def verify(self, payment: PaymentRef) -> Verification:
        body = {"id": payment.gateway_payment_id, "order_id": payment.order_id}
        return read_idpay_verification(self._post("/payment/verify", body, expected=200))

    def inquire(self, payment: PaymentRef) -> Inquiry:
        body = {"id": payment.gateway_payment_id, "order_id": payment.order_id}
        return read_idpay_inquiry(self._post("/payment/inquiry", body, expected=200))

    def read_callback(self, fields: Mapping[str, str]) -> CallbackData:
        return read_idpay_callback(fields)
