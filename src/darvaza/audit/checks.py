"""The audit log's ops checks: the chain verifies, and events get their seals in time."""

from __future__ import annotations

from datetime import timedelta

from darvaza.audit.service import oldest_unsealed, verify_with_settings
from darvaza.checks import Check, CheckContext, Observation, platform
from darvaza.errors import N_


def chain_broken(context: CheckContext) -> list[Observation]:
    """Walk the whole chain (seals, checkpoints, their copies): anything that disagrees
    means an event was changed, removed or forged."""
    report = verify_with_settings(context.parts.db, context.parts.settings)
    if report.broken is None:
        return []
    details = {
        "problem": report.broken,
        "first_bad_seq": report.first_bad_seq,
        "first_bad_event": report.first_bad_event,
        "verified_seals": report.sealed,
    }
    return [platform(details, name="audit-log")]


def unsealed(context: CheckContext) -> list[Observation]:
    """Events waiting for their seal longer than allowed: the sealer (a worker loop) is
    not running or cannot keep up, so new events are not yet tamper-evident."""
    count, oldest = oldest_unsealed(context.parts.db)
    limit = context.parts.settings.audit_seal_max_delay_seconds
    if oldest is None or (context.now - oldest).total_seconds() <= limit:
        return []
    waited = round((context.now - oldest).total_seconds())
    details = {"unsealed": count, "oldest_waited_seconds": waited, "allowed_seconds": limit}
    return [platform(details, name="audit-sealer")]


CHECKS = (
    Check(
        "audit.chain_broken",
        "critical",
        N_("The audit log does not verify"),
        timedelta(minutes=15),
        chain_broken,
    ),
    Check(
        "audit.unsealed",
        "high",
        N_("Audit events wait too long for their seal"),
        timedelta(minutes=1),
        unsealed,
    ),
)
