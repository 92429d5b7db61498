"""Fake IDPay and Zarinpal: real HTTP servers (started by the tests) that follow each
gateway's published contract, and that can be told to misbehave."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

API_KEY = "k" * 36
MERCHANT_ID = "m" * 36


@dataclass
class FakePayment:
    id: str
    order_id: str
    amount: int
    callback: str
    status: int = 1
    track_id: str = field(default_factory=lambda: str(secrets.randbelow(10**10)))


@dataclass
class FakeIdPay:
    """IDPay v1.1. `misbehave` names what verify does wrong: wrong_amount, wrong_order,
    slow, server_error, not_verifiable, too_late, reused_track_id, status (with
    `verify_status`), or None for a faithful gateway."""

    payments: dict[str, FakePayment] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    misbehave: str | None = None
    create_error: tuple[int, int, str] | None = None
    verify_status: int = 100
    slow_seconds: float = 3.0
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self.app = FastAPI()
        self.app.post("/v1.1/payment")(self._create)
        self.app.post("/v1.1/payment/verify")(self._verify)
        self.app.post("/v1.1/payment/inquiry")(self._inquiry)

    def pay(self, payment_id: str) -> dict[str, str]:
        """The payer paid at the bank: IDPay's POST callback fields."""
        payment = self.payments[payment_id]
        payment.status = 10
        return self.callback(payment_id)

    def callback(self, payment_id: str, **override: str) -> dict[str, str]:
        payment = self.payments[payment_id]
        fields = {
            "status": str(payment.status), "track_id": payment.track_id, "id": payment.id,
            "order_id": payment.order_id, "amount": str(payment.amount),
            "card_no": "123456******1234", "hashed_card_no": "AB" * 32, "date": "1700000000",
        }  # fmt: skip
        return {**fields, **override}

    @staticmethod
    def _error(http: int, code: int, message: str) -> JSONResponse:
        return JSONResponse({"error_code": code, "error_message": message}, status_code=http)

    async def _create(self, request: Request, x_api_key: str = Header("")) -> JSONResponse:
        body = await request.json()
        self.calls.append(("create", body))
        if x_api_key != API_KEY:
            return self._error(403, 12, "API Key not found")
        if self.create_error:
            return self._error(*self.create_error)
        if self.misbehave == "slow":
            await asyncio.sleep(self.slow_seconds)
        amount = int(body.get("amount", 0))
        if amount < 1000:
            return self._error(406, 34, "amount below minimum")
        if amount > 500_000_000:
            return self._error(406, 35, "amount above maximum")
        payment = FakePayment(
            secrets.token_hex(16), str(body["order_id"]), amount, body["callback"]
        )
        self.payments[payment.id] = payment
        return JSONResponse({"id": payment.id, "link": f"https://idpay.test/p/{payment.id}"}, 201)

    def _answer(self, payment: FakePayment, status: int) -> dict[str, Any]:
        amount: Any = str(payment.amount)  # IDPay sends numbers as strings at times
        order_id, track_id = payment.order_id, payment.track_id
        if self.misbehave == "wrong_amount":
            amount = payment.amount - 1000
        if self.misbehave == "wrong_order":
            order_id = "dz-someone-else"
        if self.misbehave == "reused_track_id":
            track_id = "4242"
        return {
            "status": str(status), "track_id": track_id, "id": payment.id, "order_id": order_id,
            "amount": amount, "date": "1700000000",
            "payment": {"track_id": "888", "amount": amount, "card_no": "123456******1234",
                        "hashed_card_no": "AB" * 32, "date": "1700000010"},
            "verify": {"date": "1700000020"},
        }  # fmt: skip

    async def _verify(self, request: Request, x_api_key: str = Header("")) -> JSONResponse:
        body = await request.json()
        self.calls.append(("verify", body))
        if x_api_key != API_KEY:
            return self._error(403, 12, "API Key not found")
        if self.misbehave == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.misbehave == "server_error":
            return self._error(500, -1, "unexpected error")
        if self.misbehave == "not_verifiable":
            return self._error(405, 53, "verification not possible")
        if self.misbehave == "too_late":
            return self._error(405, 54, "verification window has passed")
        payment = self.payments.get(str(body.get("id")))
        if payment is None or payment.order_id != str(body.get("order_id")):
            return self._error(400, 52, "inquiry found nothing")
        if self.misbehave == "status":
            return JSONResponse(self._answer(payment, self.verify_status))
        if payment.status == 100:
            return JSONResponse(self._answer(payment, 101))
        if payment.status != 10:
            return self._error(405, 53, "verification not possible")
        payment.status = 100
        return JSONResponse(self._answer(payment, 100))

    async def _inquiry(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append(("inquiry", body))
        payment = self.payments.get(str(body.get("id")))
        if payment is None:
            return self._error(400, 52, "inquiry found nothing")
        return JSONResponse(self._answer(payment, payment.status))

    def verify_calls(self) -> int:
        return sum(1 for kind, _ in self.calls if kind == "verify")


@dataclass
class FakeZarinpal:
    """Zarinpal v4: request, verify (100, then 101), inquiry."""

    authorities: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    verify_error: tuple[int, int, str] | None = None
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self.app = FastAPI()
        self.app.post("/pg/v4/payment/request.json")(self._request)
        self.app.post("/pg/v4/payment/verify.json")(self._verify)
        self.app.post("/pg/v4/payment/inquiry.json")(self._inquiry)

    @staticmethod
    def _error(http: int, code: int, message: str) -> JSONResponse:
        return JSONResponse({"data": [], "errors": {"code": code, "message": message}}, http)

    async def _request(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append(("request", body))
        if body.get("merchant_id") != MERCHANT_ID:
            return self._error(401, -11, "merchant not found")
        authority = "A" + secrets.token_hex(17)
        self.authorities[authority] = {"amount": body["amount"], "paid": False, "verified": False}
        data = {
            "code": 100,
            "message": "Success",
            "authority": authority,
            "fee_type": "Merchant",
            "fee": 0,
        }
        return JSONResponse({"data": data, "errors": []})

    async def _inquiry(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append(("inquiry", body))
        entry = self.authorities.get(str(body.get("authority")))
        if entry is None:
            return self._error(400, -54, "invalid authority")
        status = (
            "VERIFIED" if entry["verified"] else "PAID" if entry["paid"]
            else "FAILED" if entry.get("failed") else "IN_BANK"
        )  # fmt: skip
        return JSONResponse({"data": {"code": 100, "message": "Success", "status": status}})

    async def _verify(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append(("verify", body))
        if self.verify_error:
            return self._error(*self.verify_error)
        entry = self.authorities.get(str(body.get("authority")))
        if entry is None or not entry["paid"]:
            return self._error(400, -51, "payment not successful")
        if int(body.get("amount", 0)) != entry["amount"]:
            return self._error(400, -50, "amount mismatch")
        code = 101 if entry["verified"] else 100
        entry["verified"] = True
        data = {
            "code": code,
            "message": "Verified",
            "card_hash": "H" * 64,
            "card_pan": "502229******5995",
            "ref_id": entry.setdefault("ref_id", secrets.randbelow(10**9)),
            "fee_type": "Merchant",
            "fee": 0,
        }
        return JSONResponse({"data": data, "errors": []})
