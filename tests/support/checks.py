"""Running one of the assembled ops checks in a test, and reading what it left."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from darvaza.assembly import CHECKS
from darvaza.db import Database
from darvaza.ops.findings import RunReport, run_check
from darvaza.ops.models import OpsFinding
from darvaza.parts import Parts

CLAIMED = frozenset(kind for check in CHECKS for kind in check.claims_job_kinds)


def run(parts: Parts, code: str, *, now: datetime | None = None) -> RunReport:
    check = CHECKS.get(code)
    assert check is not None, code
    report = run_check(parts, check, now=now, claimed_kinds=CLAIMED)
    assert report.error is None, report.error
    return report


def findings(db: Database, code: str) -> dict[str, OpsFinding]:
    """The check's findings by subject id."""
    with db.read() as session:
        rows = session.scalars(select(OpsFinding).where(OpsFinding.code == code)).all()
    return {row.subject_id: row for row in rows}


def states(db: Database, code: str) -> dict[str, str]:
    return {subject: finding.state for subject, finding in findings(db, code).items()}


def expect_cycle(
    parts: Parts, code: str, subject: str, *, fix: Callable[[], object], again: Callable[[], object]
) -> None:
    """With the condition seeded: the check opens a finding on `subject`; after `fix()` it
    resolves it; after `again()` it reopens it, counting a recurrence."""
    run(parts, code)
    assert states(parts.db, code) == {subject: "open"}
    fix()
    run(parts, code)
    assert states(parts.db, code) == {subject: "resolved"}
    again()
    run(parts, code)
    reopened = findings(parts.db, code)[subject]
    assert (reopened.state, reopened.recurrences) == ("open", 1)
