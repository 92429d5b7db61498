"""Security headers added to every response."""

from __future__ import annotations

from darvaza.config import Settings

# Pages are served by Darvaza itself (no CDNs), so `self` is all any page needs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; img-src 'self' data:"
)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if not settings.is_local:
        hsts = f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"
        headers.append((b"strict-transport-security", hsts.encode()))
    return headers
