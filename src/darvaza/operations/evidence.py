"""Evidence: the record of every operational run (a smoke check, a gate, a config or
migration check, an alert test, later backups and drills), appended and never changed.

Each record says what ran (kind and name), how it ended (`passed`, `failed`,
`inconclusive`), when, what it found (bounded JSON details), and where: the Darvaza
version and revision, the schema's migration head and the instance (its profile and
name). The instance is the one recording, which is the one the run checked: a smoke check
run from a laptop against staging records through staging's API, so the evidence lands
in staging's database with staging's profile. Every record is also an audit event.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event, scrub
from darvaza.build import Instance
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import NotFound
from darvaza.operations.errors import EvidenceRefused
from darvaza.operations.models import EVIDENCE_KINDS, EVIDENCE_RESULTS, Evidence
from darvaza.paging import Page, check_range, page_of, read_time_cursor, time_cursor
from darvaza.revisions import migration_status
from darvaza.security.caller import Actor

MAX_DETAILS_BYTES = 16_384
# A run's own clock may run a little ahead of ours; more than this is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Run:
    """What a caller says about one run."""

    kind: str
    name: str
    result: str
    details: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None  # default: when it is recorded
    finished_at: datetime | None = None


def details_size(details: dict[str, Any]) -> int:
    return len(json.dumps(details, separators=(",", ":"), ensure_ascii=False).encode())


def _checked(run: Run, now: datetime) -> tuple[dict[str, Any], datetime, datetime]:
    """The run's details (credential-like keys redacted, as in the audit log) and times,
    or a refusal saying what is wrong."""
    if run.kind not in EVIDENCE_KINDS:
        raise EvidenceRefused(
            f"Unknown kind {run.kind!r}; one of: {', '.join(EVIDENCE_KINDS)}.",
            code="unknown_evidence_kind",
        )
    if run.result not in EVIDENCE_RESULTS:
        raise EvidenceRefused(f"Unknown result {run.result!r}.", code="unknown_evidence_result")
    details = scrub(run.details)
    if (size := details_size(details)) > MAX_DETAILS_BYTES:
        raise EvidenceRefused(
            f"The details are {size} bytes as JSON; at most {MAX_DETAILS_BYTES}.",
            code="details_too_large",
        )
    finished = run.finished_at or now
    started = run.started_at or finished
    if started > finished:
        raise EvidenceRefused("The run finished before it started.", code="invalid_range")
    if finished > now + CLOCK_SKEW:
        raise EvidenceRefused("The run finishes in the future.", code="invalid_range")
    return details, started, finished


def record_evidence(
    db: Database, settings: Settings, actor: Actor, run: Run, *, now: datetime | None = None
) -> Evidence:
    """Append one run's evidence, with this instance's build and schema, and audit it."""
    now = now or utcnow()
    details, started, finished = _checked(run, now)
    instance = Instance.of(settings)
    evidence = Evidence(
        id=uuid.uuid4(),
        kind=run.kind,
        name=run.name,
        result=run.result,
        details=details,
        started_at=started,
        finished_at=finished,
        recorded_at=now,
        version=instance.version,
        revision=instance.revision,
        migration_head=migration_status(db).current_label,
        instance_profile=instance.profile,
        instance_name=instance.name,
        recorded_by_type=actor.type,
        recorded_by_id=actor.id,
        recorded_by_role=actor.role,
    )
    with db.transaction() as session:
        session.add(evidence)
        append_event(
            session,
            action="evidence.recorded",
            actor=actor,
            target_type="evidence",
            target_id=evidence.id,
            data={"kind": run.kind, "name": run.name, "result": run.result,
                  "instance": f"{instance.profile}/{instance.name}"},
        )  # fmt: skip
    return evidence


@dataclass(frozen=True)
class EvidenceFilter:
    kind: str | None = None
    name: str | None = None
    result: str | None = None
    instance_name: str | None = None
    profile: str | None = None
    revision: str | None = None
    since: datetime | None = None  # recorded at or after
    until: datetime | None = None  # recorded before


def list_evidence(
    db: Database, where: EvidenceFilter, *, limit: int, cursor: str | None = None
) -> Page[Evidence]:
    """Newest first; `next_cursor` pages on."""
    check_range(where.since, where.until)
    query = (
        select(Evidence).order_by(Evidence.recorded_at.desc(), Evidence.id.desc()).limit(limit + 1)
    )
    for column, value in (
        (Evidence.kind, where.kind),
        (Evidence.name, where.name),
        (Evidence.result, where.result),
        (Evidence.instance_name, where.instance_name),
        (Evidence.instance_profile, where.profile),
        (Evidence.revision, where.revision),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(Evidence.recorded_at >= where.since)
    if where.until is not None:
        query = query.where(Evidence.recorded_at < where.until)
    if cursor is not None:
        query = query.where(tuple_(Evidence.recorded_at, Evidence.id) < read_time_cursor(cursor))
    with db.read() as session:
        rows = session.scalars(query).all()
    return page_of(rows, limit, lambda row: time_cursor(row.recorded_at, row.id))


def get_evidence(db: Database, evidence_id: uuid.UUID) -> Evidence:
    with db.read() as session:
        found = session.get(Evidence, evidence_id)
    if found is None:
        raise NotFound("No evidence has this id.")
    return found


def evidence_in(session: Session, evidence_id: uuid.UUID) -> Evidence | None:
    """The evidence with this id, read in the caller's transaction."""
    return session.get(Evidence, evidence_id)


def latest_evidence(
    db: Database,
    *,
    kind: str,
    name: str | None = None,
    result: str | None = None,
    instance_name: str | None = None,
) -> Evidence | None:
    """The newest record of a kind (and name, result, instance when given)."""
    query = select(Evidence).where(Evidence.kind == kind)
    for column, value in (
        (Evidence.name, name),
        (Evidence.result, result),
        (Evidence.instance_name, instance_name),
    ):
        if value is not None:
            query = query.where(column == value)
    with db.read() as session:
        return session.scalars(query.order_by(Evidence.recorded_at.desc()).limit(1)).first()


def latest_of_each(db: Database) -> list[Evidence]:
    """The newest record of every kind and name, by kind then name."""
    newest = (
        select(Evidence.kind, Evidence.name, func.max(Evidence.recorded_at).label("at"))
        .group_by(Evidence.kind, Evidence.name)
        .subquery()
    )
    query = (
        select(Evidence)
        .join(
            newest,
            (Evidence.kind == newest.c.kind)
            & (Evidence.name == newest.c.name)
            & (Evidence.recorded_at == newest.c.at),
        )
        .order_by(Evidence.kind, Evidence.name, Evidence.id)
    )
    with db.read() as session:
        rows = session.scalars(query).all()
    # Two records of one run at the same instant: keep one.
    return list({(row.kind, row.name): row for row in rows}.values())
