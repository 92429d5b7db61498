"""What a running app holds: settings, database, metrics and rate limits, reachable from
any route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from darvaza.billing.gateways import GatewayRegistry
from darvaza.config import Settings
from darvaza.content.storage import Storage
from darvaza.db import Database
from darvaza.identity.accounts import MailedTokens
from darvaza.identity.one_time import Links
from darvaza.identity.sessions import LoginThrottle, SessionPolicy
from darvaza.jobs.registry import Services
from darvaza.ops.metrics import Metrics
from darvaza.security.ratelimit import RateLimiter, RateRules


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    metrics: Metrics
    limiter: RateLimiter
    rate_rules: RateRules
    gateways: GatewayRegistry
    storage: Storage

    @property
    def services(self) -> Services:
        return Services(self.db, self.settings, self.gateways)

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy.from_settings(self.settings)

    @property
    def mailed_tokens(self) -> MailedTokens:
        settings = self.settings
        return MailedTokens(
            links=Links(settings.effective_secret_key, settings.public_url),
            verification_ttl=timedelta(hours=settings.email_verification_ttl_hours),
            reset_ttl=timedelta(minutes=settings.password_reset_ttl_minutes),
        )

    @property
    def invitation_ttl(self) -> timedelta:
        return timedelta(days=self.settings.invitation_ttl_days)

    @property
    def login_throttle(self) -> LoginThrottle:
        return LoginThrottle(self.limiter, self.rate_rules)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
