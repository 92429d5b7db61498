"""Support's ops checks: tickets past their SLA, and break-glass approvals nobody has
reviewed yet."""

from __future__ import annotations

from datetime import datetime, timedelta

from darvaza.checks import Check, CheckContext, Observation, Subject
from darvaza.errors import N_
from darvaza.support.service import breached_tickets, unreviewed_break_glass

LIMIT = 200


def sla_breached(context: CheckContext) -> list[Observation]:
    with context.parts.db.read() as session:
        tickets = breached_tickets(session, context.now, limit=LIMIT)
        return [
            Observation(
                Subject("ticket", str(t.id), str(t.tenant_id)),
                {
                    "subject": t.subject,
                    "priority": t.priority,
                    "tier": t.tier,
                    "state": t.state,
                    "first_response_due_at": _iso(t.first_response_due_at),
                    "resolution_due_at": _iso(t.resolution_due_at),
                },
            )
            for t in tickets
        ]


def break_glass_unreviewed(context: CheckContext) -> list[Observation]:
    with context.parts.db.read() as session:
        grants = unreviewed_break_glass(session, limit=LIMIT)
        return [
            Observation(
                Subject("support_grant", str(g.id), str(g.tenant_id)),
                {"state": g.state, "approved_at": _iso(g.approved_at), "reason": g.reason},
            )
            for g in grants
        ]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


CHECKS = (
    Check(
        "support.sla_breached",
        "medium",
        N_("Support tickets past their SLA"),
        timedelta(minutes=5),
        sla_breached,
        owner="support_admin",
    ),
    Check(
        "support.break_glass_unreviewed",
        "high",
        N_("Break-glass support access nobody has reviewed"),
        timedelta(minutes=5),
        break_glass_unreviewed,
    ),
)
