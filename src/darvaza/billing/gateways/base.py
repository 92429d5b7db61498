"""What every payment gateway offers Darvaza: create, verify, inquire, and reading its
callback. Nothing a callback says is trusted until `verify` confirms it server to server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx


class Outcome(StrEnum):
    """What a gateway status means for our payment."""

    VERIFY = "verify"  # the payer paid; verify before believing it
    PAID = "paid"  # verified (now, or before)
    PENDING = "pending"  # nothing final yet
    FAILED = "failed"
    CANCELLED = "cancelled"


class GatewayError(Exception):
    """The gateway refused or did not answer. `retryable` says whether asking again later
    can help (a timeout, a 5xx) or not (a refusal such as "verification window passed")."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class CallbackRejected(Exception):
    """A callback that cannot be read: a field missing or malformed, a status unknown."""


@dataclass(frozen=True)
class CreateRequest:
    order_id: str
    amount_rials: int
    callback_url: str
    description: str
    email: str | None = None


@dataclass(frozen=True)
class Created:
    gateway_payment_id: str
    redirect_url: str


@dataclass(frozen=True)
class PaymentRef:
    """Our own record of a payment: what every answer is checked against."""

    order_id: str
    gateway_payment_id: str
    amount_rials: int


@dataclass(frozen=True)
class CallbackData:
    """A callback, read but not believed."""

    status: str
    outcome: Outcome
    order_id: str | None
    gateway_payment_id: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The gateway's server-to-server word on a payment."""

    outcome: Outcome  # PAID when verified (status 100/101), else what the status means
    status: str
    already_verified: bool = False
    order_id: str | None = None
    gateway_payment_id: str | None = None
    amount_rials: int | None = None
    reference: str | None = None  # IDPay track_id, Zarinpal ref_id
    card_masked: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inquiry:
    """The gateway's answer to "what became of this payment?". Never proof of payment:
    when it says the payer paid, Darvaza still verifies, and only a `Verification` can
    settle a payment as paid (the two are apart so one cannot stand in for the other)."""

    outcome: Outcome
    status: str
    raw: dict[str, Any] = field(default_factory=dict)


class Gateway(Protocol):
    name: str
    # The callback fields worth keeping on a payment's timeline; nothing else is stored.
    callback_fields: tuple[str, ...]

    def create(self, request: CreateRequest) -> Created: ...

    def verify(self, payment: PaymentRef) -> Verification: ...

    def inquire(self, payment: PaymentRef) -> Inquiry: ...

    def read_callback(self, fields: Mapping[str, str]) -> CallbackData: ...


def post_json(
    http: httpx.Client, path: str, body: dict[str, Any], *, gateway: str
) -> tuple[int, dict[str, Any]]:
    """POST JSON to a gateway; its status and JSON object. No answer, or an answer that is
    not a JSON object, is the gateway's trouble: a retryable `GatewayError`."""
    try:
        response = http.post(path, json=body)
    except httpx.TimeoutException:
        raise GatewayError("timeout", f"{gateway} did not answer in time", retryable=True) from None
    except httpx.HTTPError as exc:
        raise GatewayError(
            "unreachable", f"{gateway}: {type(exc).__name__}", retryable=True
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise GatewayError(
            f"http_{response.status_code}", f"{gateway} answered without JSON", retryable=True
        )
    return response.status_code, answer


def parse_int(value: Any, what: str) -> int:
    """Gateways send numbers as numbers or as strings ("100"); anything else is refused."""
    if isinstance(value, bool):
        raise CallbackRejected(f"{what} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise CallbackRejected(f"{what} is not a number: {str(value)[:40]!r}")


MAX_KEPT_FIELD_LENGTH = 100


def bounded_fields(fields: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The named fields of a callback, each cut to a length no real value exceeds: an
    anonymous caller must not be able to grow a payment's timeline at will."""
    return {name: str(fields[name])[:MAX_KEPT_FIELD_LENGTH] for name in names if name in fields}
