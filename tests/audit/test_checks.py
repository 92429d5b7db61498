"""The audit log's ops checks: a chain that does not verify is critical; events waiting too
long for their seal are found; both resolve when fixed and reopen when it comes back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.audit.support import KEYS, SECRET, append, tamper
from tests.support.checks import expect_cycle, findings, run, states
from tests.support.jobs import parts as make_parts


def test_a_log_that_does_not_verify_is_critical(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    parts = make_parts(db, audit_key=SECRET, audit_checkpoint_dir=str(folder))
    events = append(db, 4)
    seal_all(db, KEYS, CheckpointFolder(folder))
    run(parts, "audit.chain_broken")
    assert states(db, "audit.chain_broken") == {}
    target = events[1].id

    def edit(reason: str) -> None:
        tamper(db, f"UPDATE audit_events SET reason = {reason} WHERE id = {target}")

    edit("'nothing to see'")
    run(parts, "audit.chain_broken")
    finding = findings(db, "audit.chain_broken")["audit-log"]
    assert finding.severity == "critical"
    assert "was changed after it was sealed" in finding.details["problem"]
    assert finding.details["first_bad_event"] == target
    expect_cycle(
        parts, "audit.chain_broken", "audit-log",
        fix=lambda: edit("NULL"), again=lambda: edit("'again'"),
    )  # fmt: skip


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
