"""Readiness's ops check: an exemption that ran out while its proof still does not hold.
The proof counts as failed from that moment; the finding says so until the proof passes,
a new exemption stands in, or the lapsed one is withdrawn."""

from __future__ import annotations

from datetime import timedelta

from darvaza.checks import Check, CheckContext, CheckSet, Observation, Subject
from darvaza.errors import N_
from darvaza.ops.alert_routes import AlertRoutes
from darvaza.readiness.service import any_exemption_lapsed, readiness_report


def exemption_lapsed(context: CheckContext) -> list[Observation]:
    parts = context.parts
    # The whole report (staging's API included) only when an exemption did run out.
    if not any_exemption_lapsed(parts.db, parts.settings, context.now):
        return []
    report = readiness_report(
        parts.db, parts.settings, parts.get(CheckSet), parts.get(AlertRoutes), now=context.now
    )
    return [
        Observation(
            Subject("readiness_proof", proof.key),
            {
                "proof": proof.key,
                "expired_at": proof.exemption.expires_at.isoformat(),
                "granted_by": proof.exemption.granted_by,
                "reason": proof.exemption.reason,
            },
        )
        for proof in report.proofs
        if proof.status == "fail"
        and proof.exemption is not None
        and proof.exemption.state(context.now) == "expired"
    ]


CHECKS = (
    Check(
        "readiness.exemption_expired",
        "high",
        N_("A readiness exemption ran out while its proof still does not hold"),
        timedelta(minutes=15),
        exemption_lapsed,
    ),
)
