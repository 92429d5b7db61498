"""`darvaza smoke all`: every smoke check against one instance, in an order where each
builds on what the one before proved (signing in, then money, then content, then support's
access to a tenant, then an incident's path, then the whole access matrix)."""

from __future__ import annotations

from darvaza.operations.smoke.auth_session import run_auth_session
from darvaza.operations.smoke.client import Report
from darvaza.operations.smoke.content_download import run_content_download
from darvaza.operations.smoke.incident_flow import run_incident_flow
from darvaza.operations.smoke.payments import run_idpay_callback, run_mock_payment
from darvaza.operations.smoke.rbac import run_rbac_matrix
from darvaza.operations.smoke.support_access import run_support_access

# The names of the checks `run_all` runs, in its order (readiness needs each on staging).
CHECK_NAMES = (
    "auth-session", "mock-payment", "idpay-callback", "content-download", "support-access",
    "incident-flow", "rbac-admin",
)  # fmt: skip


def run_all(base_url: str, admin_token: str, *, max_wait_seconds: float = 30) -> list[Report]:
    return [
        run_auth_session(base_url, admin_token),
        run_mock_payment(base_url, admin_token),
        run_idpay_callback(base_url, admin_token),
        run_content_download(base_url, admin_token, max_wait_seconds=max_wait_seconds),
        run_support_access(base_url, admin_token),
        run_incident_flow(base_url, admin_token),
        run_rbac_matrix(base_url, admin_token),
    ]
