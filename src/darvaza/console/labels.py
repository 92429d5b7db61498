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
    "customer": N_("Customer"),
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
    # Support tickets (also open, pending), their priorities (also low, high) and
    # categories, and their messages.
    "new": N_("New"),
    "solved": N_("Solved"),
    "closed": N_("Closed"),
    "normal": N_("Normal"),
    "urgent": N_("Urgent"),
    "billing": N_("Billing"),
    "access": N_("Access"),
    "content": N_("Content"),
    "technical": N_("Technical"),
    "other": N_("Other"),
    "reply": N_("Reply"),
    "note": N_("Internal note"),
    # Support access grants (also expired) and their history.
    "requested": N_("Requested"),
    "approved": N_("Approved"),
    "denied": N_("Denied"),
    "withdrawn": N_("Withdrawn"),
    "ended": N_("Ended"),
    "revoked": N_("Revoked"),
    "reviewed": N_("Reviewed"),
    "read": N_("Read"),
    "write": N_("Write"),
    # The data classes a grant covers (also content).
    "payments": N_("Payments"),
    "subscriptions": N_("Subscriptions"),
    "members": N_("Members"),
    "downloads": N_("Downloads"),
    "tickets": N_("Tickets"),
    # Incidents (also open, resolved, reviewed, cancelled), their roles, components,
    # mitigation steps (also other, succeeded, failed) and the public status.
    "mitigated": N_("Mitigated"),
    "commander": N_("Commander"),
    "communications": N_("Communications lead"),
    "scribe": N_("Scribe"),
    "api": N_("API"),
    "console": N_("Console"),
    "worker": N_("Worker"),
    "mail": N_("Mail"),
    "backups": N_("Backups"),
    "database": N_("Database"),
    "rollback": N_("Rollback"),
    "restore": N_("Restore"),
    "config_change": N_("Configuration change"),
    "partial": N_("Partial"),
    "operational": N_("Operational"),
    "monitoring": N_("Monitoring"),
    "degraded": N_("Degraded"),
    "partial_outage": N_("Partial outage"),
    "major_outage": N_("Major outage"),
    # An incident's story (also note, reviewed).
    "declared": N_("Declared"),
    "status": N_("Status"),
    "severity": N_("Severity"),
    "role": N_("Role"),
    "details": N_("Details"),
    "times": N_("Times"),
    "update": N_("Update"),
    "mitigation": N_("Mitigation"),
    "finding": N_("Finding"),
    "evidence": N_("Evidence"),
    "support_grant": N_("Support access"),
    "review": N_("Review"),
    "action_item": N_("Action item"),
    # Readiness: a proof's answers (also expired, withdrawn, active for exemptions).
    "pass": N_("Pass"),
    "fail": N_("Fail"),
    "stale": N_("Stale"),
    "missing": N_("Missing"),
    "exempt": N_("Exempt"),
    # Exports (also queued, running, failed, expired) and their datasets (also payments,
    # downloads).
    "ready": N_("Ready"),
    "subscribers": N_("Subscribers"),
    "audit": N_("Audit log"),
}


def label(value: str | None) -> str:
    """The catalog's word for a stored value (the value itself when it has none)."""
    if value is None:
        return ""
    return LABELS.get(value, value)
