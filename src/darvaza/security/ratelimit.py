"""Rate limits, counted in memory or, when DARVAZA_REDIS_URL is set, in Redis so that
every API process shares one counter."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from darvaza.config import Settings
from darvaza.errors import RateLimited
from darvaza.http import part
from darvaza.logs import get_logger

log = get_logger("darvaza.ratelimit")


@dataclass(frozen=True)
class Rule:
    """A named limit: `name` keeps counters of different rules apart."""

    name: str
    limit: RateLimitItem


class RateLimiter:
    def __init__(self, redis_url: str | None = None, *, key_prefix: str = "darvaza") -> None:
        self.storage: Storage = (
            RedisStorage(redis_url, key_prefix=key_prefix) if redis_url else MemoryStorage()
        )
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.backend = "redis" if redis_url else "memory"

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.redis_url, key_prefix=settings.redis_key_prefix)

    def hit(self, rule: Rule, key: str) -> None:
        """Count one attempt; raise `RateLimited` (429, with Retry-After) past the limit.

        If the shared store is down the attempt is let through and logged: a Redis outage
        must not lock every customer out.
        """
        if not self.allow(rule, key):
            self.refuse(rule, key)

    def allow(self, rule: Rule, key: str) -> bool:
        """Count one event; whether it was still within the limit (True when the store is
        down). Past the limit nothing is refused here: the caller decides (refuse, or skip
        what is not worth doing, such as recording noise)."""
        try:
            return bool(self.limiter.hit(rule.limit, rule.name, key))
        except Exception:
            log.error("rate_limit_store_unavailable", rule=rule.name, exc_info=True)
            return True

    def exhausted(self, rule: Rule, key: str) -> bool:
        """Whether the counter is at its limit, without counting (False when the store is
        down, for the reason `hit` gives)."""
        try:
            return not self.limiter.test(rule.limit, rule.name, key)
        except Exception:
            log.error("rate_limit_store_unavailable", rule=rule.name, exc_info=True)
            return False

    def refuse(self, rule: Rule, key: str) -> None:
        """Raise the 429 for a counter at its limit, with the time its window frees up."""
        try:
            reset_at = self.limiter.get_window_stats(rule.limit, rule.name, key).reset_time
        except Exception:
            log.error("rate_limit_store_unavailable", rule=rule.name, exc_info=True)
            reset_at = time.time() + rule.limit.get_expiry()
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            "Too many attempts; try again later.",
            headers={"Retry-After": str(retry_after)},
        )

    def ping(self) -> bool:
        return bool(self.storage.check())


def rule(name: str, notation: str) -> Rule:
    return Rule(name, parse(notation))


def once_per_window_of(name: str, other: Rule) -> Rule:
    """A rule that is exhausted by one event within `other`'s window."""
    return Rule(name, RateLimitItemPerSecond(1, other.limit.get_expiry()))


@dataclass(frozen=True)
class RateRules:
    """The limits Darvaza enforces, read from the settings."""

    login_per_ip: Rule
    # Failed sign-ins per address; at the limit the address is locked, except for
    # callers whose own address has not failed within the window (see identity.sessions).
    login_failures_per_email: Rule
    login_failed_recently_ip: Rule
    register_per_ip: Rule
    token_create_per_user: Rule
    callback_per_ip: Rule
    checkout_per_user: Rule
    checkout_per_ip: Rule
    password_reset_per_ip: Rule
    password_reset_per_email: Rule
    # Anonymous events (failed sign-ins, rejected callbacks) recorded per client address
    # and action: past it they are counted in the log lines, not written to the audit log.
    anonymous_audit_per_ip: Rule

    @classmethod
    def from_settings(cls, settings: Settings) -> RateRules:
        failures_per_email = rule("login_fail_email", settings.rate_limit_login_per_email)
        return cls(
            login_per_ip=rule("login_ip", settings.rate_limit_login_per_ip),
            login_failures_per_email=failures_per_email,
            login_failed_recently_ip=once_per_window_of("login_fail_ip", failures_per_email),
            register_per_ip=rule("register_ip", settings.rate_limit_register_per_ip),
            token_create_per_user=rule("token_create", settings.rate_limit_token_create_per_user),
            callback_per_ip=rule("callback_ip", settings.rate_limit_callback_per_ip),
            checkout_per_user=rule("checkout_user", settings.rate_limit_checkout_per_user),
            checkout_per_ip=rule("checkout_ip", settings.rate_limit_checkout_per_ip),
            password_reset_per_ip=rule("reset_ip", settings.rate_limit_password_reset_per_ip),
            password_reset_per_email=rule(
                "reset_email", settings.rate_limit_password_reset_per_email
            ),
            anonymous_audit_per_ip=rule(
                "anonymous_audit", settings.rate_limit_anonymous_audit_per_ip
            ),
        )


@dataclass(frozen=True)
class Rates:
    """The limiter and the rules it applies, as routes take them (`RatesDep`)."""

    limiter: RateLimiter
    rules: RateRules


RatesDep = Annotated[Rates, part(Rates)]
