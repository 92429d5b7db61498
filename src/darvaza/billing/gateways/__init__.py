"""Payment gateways: one interface, three implementations (mock, IDPay, Zarinpal)."""

from __future__ import annotations

import httpx

from darvaza.billing.gateways.base import Gateway, GatewayError
from darvaza.billing.gateways.idpay import IdPayGateway
from darvaza.billing.gateways.mock import MockGateway
from darvaza.billing.gateways.zarinpal import ZarinpalGateway
from darvaza.config import GatewayName, Settings
from darvaza.db import Database


class GatewayRegistry:
    """The gateways this deployment can use, built on first use from the settings."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.transport = transport
        self.default = settings.payment_gateway.value
        self._built: dict[str, Gateway] = {}

    def get(self, name: str) -> Gateway:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Gateway:
        settings = self.settings
        if name == GatewayName.MOCK:
            if settings.profile == "production":
                raise GatewayError(
                    "disabled", "the mock gateway is off in production", retryable=False
                )
            return MockGateway(self.db, settings.public_url)
        if name == GatewayName.IDPAY:
            if settings.idpay_api_key is None:
                raise GatewayError(
                    "not_configured", "DARVAZA_IDPAY_API_KEY is not set", retryable=False
                )
            return IdPayGateway(
                api_key=settings.idpay_api_key.get_secret_value(),
                base_url=settings.idpay_base_url,
                sandbox=settings.idpay_sandbox,
                timeout_seconds=settings.gateway_timeout_seconds,
                transport=self.transport,
            )
        if name == GatewayName.ZARINPAL:
            if settings.zarinpal_merchant_id is None:
                raise GatewayError(
                    "not_configured", "DARVAZA_ZARINPAL_MERCHANT_ID is not set", retryable=False
                )
            return ZarinpalGateway(
                merchant_id=settings.zarinpal_merchant_id.get_secret_value(),
                base_url=settings.zarinpal_base_url,
                sandbox=settings.zarinpal_sandbox,
                timeout_seconds=settings.gateway_timeout_seconds,
                transport=self.transport,
            )
        raise GatewayError("unknown_gateway", f"no gateway called {name[:20]!r}", retryable=False)
