"""The audit log's ops checks: the chain verifies, and events get their seals in time."""

from __future__ import annotations

from datetime import datetime, timedelta

from darvaza.audit.service import oldest_unsealed, verify_with_settings
from darvaza.audit.verify import Resume
from darvaza.checks import Check, CheckContext, Observation, Outcome, platform
from darvaza.errors import N_

# Between whole walks, each run walks only what was sealed since the last one (from the
# checkpoint it ended at, checked to be unchanged); a whole walk, which reads every event,
# runs at least this often and after any break, so a change to an old event is found
# within a day and a finding it opens stays open until a whole walk passes.
WHOLE_WALK_EVERY = timedelta(hours=24)


def chain_broken(context: CheckContext) -> Outcome:
    """Walk the chain (seals, checkpoints, their copies): anything that disagrees means an
    event was changed, removed or forged."""
    last_whole = context.state.get("whole_walk_at")
    resume = Resume.from_state(context.state.get("resume"))
    whole = (
        resume is None
        or last_whole is None
        or context.now - datetime.fromisoformat(last_whole) >= WHOLE_WALK_EVERY
    )
    report = verify_with_settings(
        context.parts.db, context.parts.settings, resume=None if whole else resume
    )
    walked_at = context.now.isoformat() if whole else last_whole
    if report.broken is None:
        state = {"whole_walk_at": walked_at, "resume": report.resume and report.resume.as_state()}
        return Outcome([], state=state)
    details = {
        "problem": report.broken,
        "first_bad_seq": report.first_bad_seq,
        "first_bad_event": report.first_bad_event,
        "verified_seals": report.sealed,
        "walk": "whole" if whole else f"after seal {resume.through_seq if resume else 0}",
    }
    # No resume point: the next run walks the whole log again.
    return Outcome([platform(details, name="audit-log")], state={"whole_walk_at": None})


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
