"""Words the console shows for stored values (roles and states), in every language. A
test keeps them equal to the state tables and roles: a new state needs a label here."""

from __future__ import annotations

from darvaza.errors import N_

LABELS = {
    # Roles, platform and tenant.
    "platform_admin": N_("Platform admin"),
    "support_admin": N_("Support admin"),
    "auditor": N_("Auditor"),
    "owner": N_("Owner"),
    "manager": N_("Manager"),
    # Payments.
    "created": N_("Created"),
    "pending": N_("Pending"),
    "paid": N_("Paid"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
    "mismatch": N_("Mismatch"),
    # Subscriptions (also cancelled, expired).
    "active": N_("Active"),
    # Content items.
    "draft": N_("Draft"),
    "published": N_("Published"),
    "archived": N_("Archived"),
    # Jobs (also cancelled).
    "queued": N_("Queued"),
    "running": N_("Running"),
    "succeeded": N_("Succeeded"),
    "dead": N_("Dead"),
    # Ops findings, their severities and their timeline.
    "open": N_("Open"),
    "acknowledged": N_("Acknowledged"),
    "resolved": N_("Resolved"),
    "critical": N_("Critical"),
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
    "opened": N_("Opened"),
    "reopened": N_("Reopened"),
    "acknowledgement_expired": N_("Acknowledgement ran out"),
    # Evidence (also failed).
    "passed": N_("Passed"),
    "inconclusive": N_("Inconclusive"),
}


def label(value: str | None) -> str:
    """The catalog's word for a stored value (the value itself when it has none)."""
    if value is None:
        return ""
    return LABELS.get(value, value)
