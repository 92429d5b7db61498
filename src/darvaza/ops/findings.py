"""Running the checks and keeping their findings.

A check runs outside any transaction (it only reads); what it saw is then applied in one
transaction that locks the check's `ops_check_runs` row, so two workers running the same
check take turns, and a run that started before the last applied one is dropped instead
of undoing it. Applying follows pretix's pattern: lock, re-read, change only what the
state table allows, write the timeline in the same transaction.

Per observation: a new fingerprint opens a finding; a known one moves `last_seen_at` and
its details (and opens again, saying so, if it was resolved). A finding of this check not
observed this run is resolved, but only among the subjects the run `examined` when it
says. A check that raises changes no finding: an error is not an all-clear.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.checks import (
    Check,
    CheckContext,
    Observation,
    Outcome,
    fingerprint,
    fingerprint_inputs,
)
from darvaza.clock import utcnow
from darvaza.db import Database, flushed, lock_row_if_any
from darvaza.errors import Conflict, InvalidInput, NotFound
from darvaza.logs import get_logger
from darvaza.ops.models import FINDING, UNRESOLVED, OpsCheckRun, OpsFinding, OpsFindingEvent
from darvaza.parts import Parts
from darvaza.security.caller import Actor

log = get_logger("darvaza.ops")

MAX_DETAILS_BYTES = 4_096
MAX_ERROR_CHARS = 4_000


@dataclass(frozen=True)
class RunReport:
    code: str
    ran: bool
    applied: bool = False
    error: str | None = None
    observed: int = 0
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    seconds: float = 0.0


def _bounded(details: Any) -> dict[str, Any]:
    """Details as stored: JSON-safe, and cut to a summary when too large."""
    text = json.dumps(dict(details), default=str, sort_keys=True)
    if len(text.encode()) <= MAX_DETAILS_BYTES:
        loaded: dict[str, Any] = json.loads(text)
        return loaded
    return {"truncated": True, "size_bytes": len(text.encode()), "keys": sorted(details)[:50]}


def _event(
    session: Session,
    finding: OpsFinding,
    kind: str,
    note: str,
    now: datetime,
    *,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        OpsFindingEvent(
            finding_id=finding.id,
            at=now,
            kind=kind,
            state=finding.state,
            actor=actor,
            note=note,
            details=details or {},
        )
    )


def _tenant(tenant_id: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(tenant_id) if tenant_id else None
    except ValueError:
        return None


def _lock_findings(session: Session, prints: Sequence[str]) -> dict[str, OpsFinding]:
    """The findings with these fingerprints, locked, in one statement per thousand: a run
    that sees hundreds of subjects costs a few round trips, not two for each."""
    found: dict[str, OpsFinding] = {}
    for start in range(0, len(prints), 1000):
        query = select(OpsFinding).where(OpsFinding.fingerprint.in_(prints[start : start + 1000]))
        for finding in session.scalars(query.order_by(OpsFinding.fingerprint).with_for_update()):
            found[finding.fingerprint] = finding
    return found


def _apply_observation(
    session: Session, check: Check, observed: tuple[str, dict[str, str], Observation],
    finding: OpsFinding | None, now: datetime,
) -> str:  # fmt: skip
    """Open, refresh or reopen the finding for one observation (`finding`, locked, when
    there is one already); what happened to it."""
    print_, inputs, observation = observed
    details = _bounded(observation.details)
    if finding is None:
        finding = OpsFinding(
            id=uuid.uuid4(),
            fingerprint=print_,
            inputs=inputs,
            code=check.code,
            severity=check.severity,
            title=check.title,
            subject_type=observation.subject.type,
            subject_id=observation.subject.id,
            tenant_id=_tenant(observation.subject.tenant_id),
            state="open",
            first_seen_at=now,
            last_seen_at=now,
            opened_at=now,
            observations=1,
            recurrences=0,
            details=details,
            tenants_affected=observation.tenants_affected,
            updated_at=now,
        )
        # Another process applying the same check (a run of an older schema, say) may have
        # inserted it since we looked; the unique fingerprint keeps it one row.
        if flushed(session, lambda: session.add(finding)):
            _event(session, finding, "opened", f"{check.title}: first seen.", now, details=details)
            return "opened"
        finding = lock_row_if_any(session, OpsFinding, OpsFinding.fingerprint == print_)
        assert finding is not None  # noqa: S101 (the insert lost to this row)
    finding.last_seen_at, finding.updated_at = now, now
    finding.observations += 1
    finding.details, finding.tenants_affected = details, observation.tenants_affected
    # The declared severity and title may have changed with a new release.
    finding.severity, finding.title = check.severity, check.title
    if finding.state != "resolved":
        return "observed"
    FINDING.move(finding, "open")
    finding.recurrences += 1
    finding.opened_at, finding.resolved_at = now, None
    _clear_acknowledgement(finding)
    _event(
        session,
        finding,
        "reopened",
        f"Seen again after it was resolved (recurrence {finding.recurrences}).",
        now,
        details=details,
    )
    return "reopened"


def _clear_acknowledgement(finding: OpsFinding) -> None:
    finding.acknowledged_by = finding.acknowledged_reason = None
    finding.acknowledged_at = finding.acknowledged_until = None


def _resolve_unseen(
    session: Session, check: Check, seen: set[str], outcome: Outcome, now: datetime
) -> int:
    query = select(OpsFinding).where(
        OpsFinding.code == check.code, OpsFinding.state.in_(UNRESOLVED)
    )
    resolved = 0
    for finding in session.scalars(
        query.with_for_update().execution_options(populate_existing=True)
    ):
        if finding.fingerprint in seen:
            continue
        if outcome.examined is not None and finding.subject_id not in outcome.examined:
            continue
        FINDING.move(finding, "resolved")
        finding.resolved_at, finding.updated_at = now, now
        _event(session, finding, "resolved", "No longer seen by its check.", now)
        resolved += 1
    return resolved


def _claimed_kinds(checks: Iterable[Check]) -> frozenset[str]:
    return frozenset(kind for check in checks for kind in check.claims_job_kinds)


def run_check(
    parts: Parts,
    check: Check,
    *,
    now: datetime | None = None,
    claimed_kinds: frozenset[str] = frozenset(),
) -> RunReport:
    """Run one check now and apply what it saw. Never raises for the check's own failure."""
    db = parts.db
    started_at = now or utcnow()
    with db.read() as session:
        row = session.get(OpsCheckRun, check.code)
        state = dict(row.state) if row is not None else {}
    began = time.perf_counter()
    error: str | None = None
    outcome = Outcome(())
    try:
        outcome = check.run(CheckContext(parts, started_at, state, claimed_kinds))
    except Exception:  # noqa: BLE001 (shown as the check's error; never hides the others)
        error = traceback.format_exc()[-MAX_ERROR_CHARS:]
        # The traceback is kept with the check's run; the log names the failure.
        log.warning("ops_check_failed", check=check.code, error=error.strip().splitlines()[-1])
    seconds = time.perf_counter() - began
    return _apply(db, check, started_at, seconds, outcome, error)


def _apply(
    db: Database,
    check: Check,
    started_at: datetime,
    seconds: float,
    outcome: Outcome,
    error: str | None,
) -> RunReport:
    finished_at = started_at + timedelta(seconds=seconds)
    with db.transaction() as session:
        row = lock_row_if_any(session, OpsCheckRun, OpsCheckRun.code == check.code)
        if row is None:
            row = OpsCheckRun(code=check.code, state={}, observed=0, updated_at=finished_at)
            if not flushed(session, lambda: session.add(row)):
                row = lock_row_if_any(session, OpsCheckRun, OpsCheckRun.code == check.code)
                assert row is not None  # noqa: S101 (the insert lost to this row)
        if row.started_at is not None and row.started_at > started_at:
            # A later run was applied while this one looked: its view is the newer one.
            return RunReport(check.code, ran=True, applied=False, seconds=seconds)
        row.started_at, row.finished_at = started_at, finished_at
        row.duration_ms = round(seconds * 1000, 2)
        row.error, row.updated_at = error, finished_at
        if error is not None:
            return RunReport(check.code, ran=True, applied=True, error=error, seconds=seconds)
        if outcome.state is not None:
            row.state = dict(outcome.state)
        counts = {"opened": 0, "reopened": 0, "observed": 0}
        observed: dict[str, tuple[str, dict[str, str], Observation]] = {}
        for observation in outcome.observations:
            inputs = fingerprint_inputs(check.code, observation.subject)
            print_ = fingerprint(inputs)
            # A check naming one subject twice: one finding.
            observed.setdefault(print_, (print_, inputs, observation))
        existing = _lock_findings(session, sorted(observed))
        for print_, one in observed.items():
            counts[_apply_observation(session, check, one, existing.get(print_), started_at)] += 1
        seen = set(observed)
        row.observed = len(seen)
        resolved = _resolve_unseen(session, check, seen, outcome, started_at)
    return RunReport(
        check.code,
        ran=True,
        applied=True,
        observed=len(seen),
        opened=counts["opened"],
        reopened=counts["reopened"],
        resolved=resolved,
        seconds=seconds,
    )


def due_checks(db: Database, checks: Sequence[Check], now: datetime) -> list[Check]:
    """The checks whose last run started at least their interval ago (or never ran)."""
    with db.read() as session:
        last = dict(session.execute(select(OpsCheckRun.code, OpsCheckRun.started_at)).all())
    due = []
    for check in checks:
        started = last.get(check.code)
        # A little slack: a check every minute, run by a job every minute, is due each time.
        if started is None or now - started >= check.every - timedelta(seconds=5):
            due.append(check)
    return due


def run_checks(
    parts: Parts,
    checks: Sequence[Check],
    *,
    now: datetime | None = None,
    only_due: bool = False,
) -> list[RunReport]:
    """Run the checks (only those due, for the periodic job), then reopen findings whose
    acknowledgement ran out."""
    now = now or utcnow()
    claimed = _claimed_kinds(checks)
    chosen = due_checks(parts.db, checks, now) if only_due else list(checks)
    reports = [run_check(parts, check, now=now, claimed_kinds=claimed) for check in chosen]
    expire_acknowledgements(parts.db, now=now)
    return reports


def expire_acknowledgements(db: Database, *, now: datetime | None = None) -> int:
    """Reopen every acknowledged finding whose acknowledgement has run out."""
    now = now or utcnow()
    with db.transaction() as session:
        expired = session.scalars(
            select(OpsFinding)
            .where(OpsFinding.state == "acknowledged", OpsFinding.acknowledged_until <= now)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        for finding in expired:
            until = finding.acknowledged_until
            FINDING.move(finding, "open")
            finding.updated_at = now
            _event(
                session,
                finding,
                "acknowledgement_expired",
                f"The acknowledgement by {finding.acknowledged_by} ran out; open again.",
                now,
                details={"until": until.isoformat() if until else None},
            )
            _clear_acknowledgement(finding)
    return len(expired)


def acknowledge_finding(
    db: Database,
    finding_id: uuid.UUID,
    *,
    actor: Actor,
    who: str,
    reason: str,
    until: datetime,
    max_days: int,
    now: datetime | None = None,
) -> OpsFinding:
    """Someone is on it: who, why, and until when it stays quiet (in the future, at most
    `max_days` away). 404 for an unknown finding, 409 for a resolved one; acknowledging
    again replaces the last acknowledgement. Audited."""
    now = now or utcnow()
    with db.transaction() as session:
        finding = lock_row_if_any(session, OpsFinding, OpsFinding.id == finding_id)
        if finding is None:
            raise NotFound("No such finding.")
        if until <= now:
            raise InvalidInput("`until` must be in the future.", code="invalid_range")
        if until > now + timedelta(days=max_days):
            raise InvalidInput(
                f"An acknowledgement lasts at most {max_days} days.", code="invalid_range"
            )
        if finding.state != "acknowledged":
            FINDING.move(finding, "acknowledged")
        finding.acknowledged_by, finding.acknowledged_reason = who, reason
        finding.acknowledged_at, finding.acknowledged_until = now, until
        finding.updated_at = now
        _event(
            session,
            finding,
            "acknowledged",
            f"Acknowledged until {until.isoformat()}: {reason}",
            now,
            actor=who,
            details={"until": until.isoformat()},
        )
        append_event(
            session,
            action="ops.finding_acknowledged",
            actor=actor,
            target_type="ops_finding",
            target_id=str(finding.id),
            reason=reason,
            data={"code": finding.code, "until": until.isoformat()},
        )
    return finding


def link_to_incident(
    session: Session, finding_id: uuid.UUID, incident_id: uuid.UUID, now: datetime, *,
    who: str | None,
) -> OpsFinding:  # fmt: skip
    """The incidents domain declares or links an incident for this finding (inside its
    transaction): the finding names it from then on. A finding belongs to one incident."""
    finding = lock_row_if_any(session, OpsFinding, OpsFinding.id == finding_id)
    if finding is None:
        raise InvalidInput("No finding has this id.", code="invalid_finding")
    if finding.incident_id not in (None, incident_id):
        raise Conflict(
            f"This finding belongs to incident {finding.incident_id} already.",
            code="finding_linked",
        )
    if finding.incident_id is None:
        finding.incident_id, finding.updated_at = incident_id, now
        _event(session, finding, "incident_linked", f"Linked to incident {incident_id}.", now,
               actor=who, details={"incident_id": str(incident_id)})  # fmt: skip
    return finding


def findings_of_incident(session: Session, incident_id: uuid.UUID) -> list[OpsFinding]:
    return list(
        session.scalars(
            select(OpsFinding)
            .where(OpsFinding.incident_id == incident_id)
            .order_by(OpsFinding.first_seen_at)
            .limit(200)
        )
    )
