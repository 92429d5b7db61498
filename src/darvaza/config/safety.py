"""What makes settings unsafe for their profile. `local` works with nothing set; `staging`
and `production` refuse to start while any of these holds, and every problem is named at
once so an operator fixes them in one pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from darvaza.config.settings import (
    DEFAULT_AUDIT_KEY,
    DEFAULT_MAIL_FROM,
    DEFAULT_SECRET_KEY,
    MIN_SECRET_KEY_BYTES,
    GatewayName,
    Profile,
)

if TYPE_CHECKING:
    from darvaza.config.settings import Settings


def problems(settings: Settings) -> list[str]:
    """Every reason these settings are unsafe for their profile (empty when safe)."""
    if settings.is_local:
        return []
    found: list[str] = []
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not key:
        found.append("DARVAZA_SECRET_KEY is not set")
    elif key == DEFAULT_SECRET_KEY:
        found.append("DARVAZA_SECRET_KEY is the shared development default")
    elif len(key.encode()) < MIN_SECRET_KEY_BYTES:
        found.append(f"DARVAZA_SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes")
    if not settings.cookies_secure:
        found.append("DARVAZA_COOKIE_SECURE is false; cookies must be Secure")
    if settings.debug:
        found.append("DARVAZA_DEBUG is on")
    if settings.payment_gateway is GatewayName.IDPAY and settings.idpay_api_key is None:
        found.append("DARVAZA_PAYMENT_GATEWAY is idpay but DARVAZA_IDPAY_API_KEY is not set")
    if settings.payment_gateway is GatewayName.ZARINPAL and settings.zarinpal_merchant_id is None:
        found.append(
            "DARVAZA_PAYMENT_GATEWAY is zarinpal but DARVAZA_ZARINPAL_MERCHANT_ID is not set"
        )
    found.extend(_audit_key_problems(settings, key))
    found.extend(_deployment_problems(settings))
    if settings.profile is Profile.PRODUCTION:
        found.extend(_production_problems(settings))
    return found


def _deployment_problems(settings: Settings) -> list[str]:
    found: list[str] = []
    if not settings.public_url:
        found.append("DARVAZA_PUBLIC_URL is not set; every link and callback starts with it")
    elif not settings.public_url.startswith("https://"):
        found.append("DARVAZA_PUBLIC_URL is not https; gateways send customers back there")
    for name, processes in (
        ("API_PROCESSES", settings.api_processes), ("SERVE_WORKERS", settings.serve_workers)
    ):  # fmt: skip
        if processes > 1 and not settings.redis_url:
            found.append(
                f"DARVAZA_{name} is {processes} but DARVAZA_REDIS_URL is not set; each "
                "process would count rate limits on its own"
            )
    return found


def _audit_key_problems(settings: Settings, secret_key: str) -> list[str]:
    audit_key = settings.audit_key.get_secret_value() if settings.audit_key else ""
    if not audit_key or audit_key == DEFAULT_AUDIT_KEY:
        return ["DARVAZA_AUDIT_KEY is not set; audit checkpoints would not be signed"]
    if len(audit_key.encode()) < MIN_SECRET_KEY_BYTES or audit_key == secret_key:
        return [
            f"DARVAZA_AUDIT_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes and not the "
            "secret key"
        ]
    return []


def _production_problems(settings: Settings) -> list[str]:
    found: list[str] = []
    if settings.database_backend == "sqlite":
        found.append("DARVAZA_DATABASE_URL points at SQLite; production needs PostgreSQL")
    if settings.payment_gateway is GatewayName.MOCK:
        found.append("DARVAZA_PAYMENT_GATEWAY is mock; production takes real payments")
    if "*" in (ip.strip() for ip in settings.forwarded_allow_ips.split(",")):
        found.append(
            "DARVAZA_FORWARDED_ALLOW_IPS is *: anyone could set the client address that "
            "rate limits and the audit log rely on; name your proxies"
        )
    if settings.mail_from == DEFAULT_MAIL_FROM:
        found.append("DARVAZA_MAIL_FROM is the placeholder sender; mail from it bounces")
    if settings.effective_mail_backend == "files":
        found.append("DARVAZA_MAIL_BACKEND is files; nobody would receive the mail")
    elif not settings.smtp_host:
        found.append("DARVAZA_SMTP_HOST is not set; password resets and invitations need mail")
    if settings.metrics_token is None:
        found.append("DARVAZA_METRICS_TOKEN is not set; /metrics would be public")
    if settings.api_token_max_days == 0:
        found.append("DARVAZA_API_TOKEN_MAX_DAYS is 0; staff API tokens would never expire")
    return found
