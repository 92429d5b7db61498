"""The audit log's ops checks: a chain that does not verify is critical; events waiting too
long for their seal are found; both resolve when fixed and reopen when it comes back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.audit.checks import WHOLE_WALK_EVERY
from darvaza.audit.verify import verify_log
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.audit.support import KEYS, SECRET, append, tamper
from tests.support.checks import findings, run, states
from tests.support.jobs import parts as make_parts


def test_a_log_that_does_not_verify_is_critical(db: Database, tmp_path: Path) -> None:
    """Runs between whole walks walk only what was sealed since: a change after the last
    verified checkpoint is found at once, an older one by the next whole walk (within a
    day), and a finding stays open until a whole walk passes."""
    folder = tmp_path / "checkpoints"
    parts = make_parts(db, audit_key=SECRET, audit_checkpoint_dir=str(folder))
    now = utcnow()
    events = append(db, 4)
    seal_all(db, KEYS, CheckpointFolder(folder))
    run(parts, "audit.chain_broken", now=now)
    assert states(db, "audit.chain_broken") == {}
    old = events[1].id
    # Written now, sealed later (before the triggers are switched off below, which on
    # PostgreSQL also stops new events from being queued for their seal).
    fresh = append(db, 3)

    def edit(event_id: int, reason: str) -> None:
        tamper(db, f"UPDATE audit_events SET reason = {reason} WHERE id = {event_id}")

    edit(old, "'nothing to see'")
    run(parts, "audit.chain_broken", now=now + timedelta(minutes=15))
    assert states(db, "audit.chain_broken") == {}  # before the resume point: not walked
    run(parts, "audit.chain_broken", now=now + WHOLE_WALK_EVERY)
    finding = findings(db, "audit.chain_broken")["audit-log"]
    assert finding.severity == "critical"
    assert "was changed after it was sealed" in finding.details["problem"]
    assert (finding.details["first_bad_event"], finding.details["walk"]) == (old, "whole")
    # Broken, the next run walks the whole log again: the finding is not resolved by a
    # walk that starts after the change.
    run(parts, "audit.chain_broken", now=now + WHOLE_WALK_EVERY + timedelta(minutes=15))
    assert states(db, "audit.chain_broken") == {"audit-log": "open"}
    edit(old, "NULL")
    run(parts, "audit.chain_broken", now=now + WHOLE_WALK_EVERY + timedelta(minutes=30))
    assert states(db, "audit.chain_broken") == {"audit-log": "resolved"}

    # Events sealed since the last run: a change to one is found by the next short walk.
    seal_all(db, KEYS, CheckpointFolder(folder))
    edit(fresh[0].id, "'later'")
    run(parts, "audit.chain_broken", now=now + WHOLE_WALK_EVERY + timedelta(minutes=60))
    reopened = findings(db, "audit.chain_broken")["audit-log"]
    assert (reopened.state, reopened.recurrences) == ("open", 1)
    assert reopened.details["walk"].startswith("after seal ")


def test_a_walk_resumes_only_from_a_checkpoint_still_as_it_was(
    db: Database, tmp_path: Path
) -> None:
    folder = CheckpointFolder(tmp_path / "checkpoints")
    append(db, 4)
    seal_all(db, KEYS, folder)
    first = verify_log(db, KEYS, folder, max_delay_seconds=60)
    assert first.ok
    assert first.resume is not None
    append(db, 3)
    seal_all(db, KEYS, folder)
    short = verify_log(db, KEYS, folder, max_delay_seconds=60, resume=first.resume)
    assert short.ok, short.problems
    assert (short.sealed, short.checkpoints) == (7, 1)  # walked the new checkpoint only
    assert short.resume is not None
    assert short.resume.through_seq == 7
    whole = verify_log(db, KEYS, folder, max_delay_seconds=60)
    assert (whole.sealed, whole.resume) == (7, short.resume)
    seq = first.resume.through_seq
    tamper(db, f"UPDATE audit_seals SET mac = '{'0' * 64}' WHERE seq = {seq}")
    refused = verify_log(db, KEYS, folder, max_delay_seconds=60, resume=first.resume)
    assert refused.broken == f"seal {seq}, verified before, is gone or changed"


def test_events_waiting_too_long_for_their_seal(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    parts = make_parts(
        db, audit_key=SECRET, audit_checkpoint_dir=str(folder), audit_seal_max_delay_seconds=60
    )
    now = utcnow()
    append(db, 3)
    run(parts, "audit.unsealed", now=now)
    assert states(db, "audit.unsealed") == {}  # just written: the sealer has time
    run(parts, "audit.unsealed", now=now + timedelta(minutes=5))
    finding = findings(db, "audit.unsealed")["audit-sealer"]
    assert finding.details["unsealed"] == 3
    seal_all(db, KEYS, CheckpointFolder(folder))
    run(parts, "audit.unsealed", now=now + timedelta(minutes=6))
    assert states(db, "audit.unsealed") == {"audit-sealer": "resolved"}
    append(db, 1)
    run(parts, "audit.unsealed", now=now + timedelta(minutes=10))
    reopened = findings(db, "audit.unsealed")["audit-sealer"]
    assert (reopened.state, reopened.recurrences) == ("open", 1)
