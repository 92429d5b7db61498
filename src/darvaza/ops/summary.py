"""The ops summary: what is wrong right now, how bad, since when, whom it affects, who owns
it and what to do first, read from the stored findings and check runs (never by running
a check), so it answers in milliseconds however large the platform.

"No findings" means something only when every check ran recently: a check that has not
run within twice its interval (plus a minute) is `stale`, and a stale or erroring check
keeps the status from being `ok`.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import select, tuple_

from darvaza.build import Instance
from darvaza.checks import SEVERITIES, Check, CheckSet, severity_rank
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import NotFound
from darvaza.ops.models import UNRESOLVED, OpsCheckRun, OpsFinding, OpsFindingEvent
from darvaza.paging import Page, page_of, read_time_cursor, time_cursor
from darvaza.revisions import migration_status

# Bumped whenever the summary's shape changes (docs/api/ops-summary.schema.json).
SCHEMA_VERSION = "1"
# The repository's docs, when Darvaza runs from a checkout or an install that ships them.
DOCS = Path(__file__).resolve().parents[3] / "docs"
FIRST_STEPS_HEADINGS = ("first fifteen minutes", "first steps")
MAX_FIRST_STEPS = 4
STALE_SLACK = timedelta(minutes=1)


@cache
def first_steps(code: str) -> tuple[str, ...]:
    """The numbered steps under a playbook's "First fifteen minutes" (or "First steps")
    heading, as written; empty when the playbook is not installed here."""
    path = DOCS / "playbooks" / f"{code}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ()
    steps: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip().lower() in FIRST_STEPS_HEADINGS
            continue
        if inside and (match := re.match(r"^\d+\.\s+(.*)", line)):
            steps.append(match.group(1).strip())
        elif inside and steps and line.startswith("   ") and line.strip():
            steps[-1] += " " + line.strip()
    return tuple(steps[:MAX_FIRST_STEPS])


@cache
def playbook_text(code: str) -> str | None:
    """The whole playbook, for the console's finding page; None when not installed here."""
    try:
        return (DOCS / "playbooks" / f"{code}.md").read_text(encoding="utf-8")
    except OSError:
        return None


def effective_state(finding: OpsFinding, now: datetime) -> str:
    """An acknowledgement that ran out no longer quiets a finding, even before the next
    check run reopens it in the table."""
    until = finding.acknowledged_until
    if finding.state == "acknowledged" and until is not None and until <= now:
        return "open"
    return finding.state


@dataclass(frozen=True)
class CheckStatus:
    check: Check
    run: OpsCheckRun | None
    stale: bool

    @property
    def error(self) -> str | None:
        if self.run is None or self.run.error is None:
            return None
        # The last line names the exception; the traceback is in the worker's log.
        lines = self.run.error.strip().splitlines()
        return lines[-1] if lines else None


@dataclass(frozen=True)
class FindingView:
    finding: OpsFinding
    state: str
    check: Check | None
    age_seconds: float

    @property
    def owner(self) -> str:
        return self.check.owner if self.check else "platform_admin"

    @property
    def playbook(self) -> str:
        return f"docs/playbooks/{self.finding.code}.md"

    @property
    def first_steps(self) -> tuple[str, ...]:
        return first_steps(self.finding.code)


@dataclass(frozen=True)
class Summary:
    generated_at: datetime
    instance: Instance
    migration_head: str | None
    status: str
    checks: list[CheckStatus]
    findings: list[FindingView]

    @property
    def all_checks_fresh(self) -> bool:
        return all(not status.stale for status in self.checks)

    def counts(self) -> dict[str, dict[str, int]]:
        severity = Counter(view.finding.severity for view in self.findings)
        state = Counter(view.state for view in self.findings)
        return {
            "by_severity": {name: severity[name] for name in SEVERITIES},
            "by_state": {name: state[name] for name in UNRESOLVED},
        }


def is_stale(check: Check, run: OpsCheckRun | None, now: datetime) -> bool:
    if run is None or run.finished_at is None:
        return True
    return now - run.finished_at > 2 * check.every + STALE_SLACK


def _status(checks: list[CheckStatus], findings: list[FindingView]) -> str:
    if any(v.state == "open" and v.finding.severity == "critical" for v in findings):
        return "critical"
    if findings or any(status.stale or status.error for status in checks):
        return "degraded"
    return "ok"


def check_statuses(db: Database, checks: CheckSet, now: datetime) -> list[CheckStatus]:
    with db.read() as session:
        runs = {run.code: run for run in session.scalars(select(OpsCheckRun))}
    return [
        CheckStatus(check, runs.get(check.code), is_stale(check, runs.get(check.code), now))
        for check in sorted(checks, key=lambda c: (severity_rank(c.severity), c.code))
    ]


def views_of(
    findings: Iterable[OpsFinding], checks: CheckSet, now: datetime | None = None
) -> list[FindingView]:
    """Findings as a reader sees them now: state, owner, age, playbook."""
    now = now or utcnow()
    return [
        FindingView(row, effective_state(row, now), checks.get(row.code),
                    (now - row.opened_at).total_seconds())
        for row in findings
    ]  # fmt: skip


def unresolved_findings(db: Database, checks: CheckSet, now: datetime) -> list[FindingView]:
    """Every finding not resolved, worst first, then oldest first."""
    with db.read() as session:
        rows = session.scalars(select(OpsFinding).where(OpsFinding.state.in_(UNRESOLVED))).all()
    views = views_of(rows, checks, now)
    # Acknowledged ones after the open ones of the same severity: someone is on them.
    return sorted(
        views,
        key=lambda v: (severity_rank(v.finding.severity), v.state != "open", v.finding.opened_at),
    )


def ops_summary(
    db: Database, settings: Settings, checks: CheckSet, *, now: datetime | None = None
) -> Summary:
    now = now or utcnow()
    statuses = check_statuses(db, checks, now)
    findings = unresolved_findings(db, checks, now)
    try:
        head = migration_status(db).current_label
    except Exception:  # noqa: BLE001 (the summary answers even when the schema cannot be read)
        head = None
    return Summary(
        generated_at=now,
        instance=Instance.of(settings),
        migration_head=head,
        status=_status(statuses, findings),
        checks=statuses,
        findings=findings,
    )


@dataclass(frozen=True)
class FindingFilter:
    state: str | None = None
    code: str | None = None
    severity: str | None = None


def list_findings(
    db: Database, where: FindingFilter, *, limit: int, cursor: str | None = None
) -> Page[OpsFinding]:
    """Findings in any state, most recently changed first; `next_cursor` pages on."""
    query = (
        select(OpsFinding)
        .order_by(OpsFinding.updated_at.desc(), OpsFinding.id.desc())
        .limit(limit + 1)
    )
    for column, value in (
        (OpsFinding.state, where.state),
        (OpsFinding.code, where.code),
        (OpsFinding.severity, where.severity),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor is not None:
        query = query.where(tuple_(OpsFinding.updated_at, OpsFinding.id) < read_time_cursor(cursor))
    with db.read() as session:
        rows = session.scalars(query).all()
    return page_of(rows, limit, lambda row: time_cursor(row.updated_at, row.id))


def get_finding(db: Database, finding_id: uuid.UUID) -> tuple[OpsFinding, list[OpsFindingEvent]]:
    """One finding with its timeline, oldest event first."""
    with db.read() as session:
        finding = session.get(OpsFinding, finding_id)
        if finding is None:
            raise NotFound("No such finding.")
        events = list(
            session.scalars(
                select(OpsFindingEvent)
                .where(OpsFindingEvent.finding_id == finding_id)
                .order_by(OpsFindingEvent.id)
                .limit(1000)
            )
        )
    return finding, events


def open_counts(db: Database) -> dict[tuple[str, str], int]:
    """Unresolved findings by code and severity (for /metrics)."""
    with db.read() as session:
        rows = session.execute(
            select(OpsFinding.code, OpsFinding.severity, OpsFinding.state)
            .where(OpsFinding.state.in_(UNRESOLVED))
        ).all()  # fmt: skip
    counts: Counter[tuple[str, str]] = Counter((code, severity) for code, severity, _ in rows)
    return dict(counts)


def open_by_severity(db: Database, now: datetime | None = None) -> dict[str, int]:
    """Findings open now (an acknowledgement that ran out counts), by severity."""
    now = now or utcnow()
    with db.read() as session:
        rows = session.scalars(select(OpsFinding).where(OpsFinding.state.in_(UNRESOLVED))).all()
    counts = Counter(row.severity for row in rows if effective_state(row, now) == "open")
    return {severity: counts[severity] for severity in SEVERITIES}
