"""Readiness's one face: the report (`readiness_report`), read from the evidence and the
live state of the instance the settings name, and the exemptions a platform admin grants
and withdraws (audited, locked, at most the setting's days).

Staging's evidence is read where it lives. On a staging instance that is its own
database; elsewhere it is staging's own API (`DARVAZA_READINESS_STAGING_URL`, with an
auditor's token in `DARVAZA_READINESS_STAGING_TOKEN`), and only records whose instance
says `staging` count, whatever the other side filtered. A report for production counts
only staging evidence of the very revision running here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.build import Instance
from darvaza.checks import CheckSet
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import Conflict, InvalidInput, NotFound
from darvaza.incidents.service import SEVERITIES, active_counts
from darvaza.jobs.service import list_workers
from darvaza.operations.models import Evidence
from darvaza.ops.alert_routes import AlertRoutes
from darvaza.ops.service import ops_summary
from darvaza.paging import Page, newest_first, page_of, time_cursor
from darvaza.readiness.models import ReadinessExemption
from darvaza.readiness.proofs import PROOF_KEYS, PROOFS, EvidenceRule, Facts, proof_named
from darvaza.readiness.report import (
    NOT_READY,
    READY,
    EvidenceUse,
    Exemption,
    Lookup,
    ProofResult,
    Report,
    judge_all,
)
from darvaza.revisions import migration_status
from darvaza.security.caller import Actor
from darvaza.support.service import unreviewed_break_glass

__all__ = [
    "NOT_READY",
    "PROOFS",
    "PROOF_KEYS",
    "READY",
    "Exemption",
    "ProofResult",
    "Report",
    "any_exemption_lapsed",
    "exempt_proof",
    "list_exemptions",
    "readiness_report",
    "withdraw_exemption",
]
STAGING_TIMEOUT_SECONDS = 5.0


def _use(row: Evidence, source: str = "local") -> EvidenceUse:
    return EvidenceUse(
        row.id, row.kind, row.name, row.result, row.recorded_at, row.instance_profile,
        row.instance_name, row.revision, source,
    )  # fmt: skip


def _newest(session: Session, kind: str, name: str, **where: Any) -> Evidence | None:
    query = select(Evidence).where(Evidence.kind == kind, Evidence.name == name)
    for column, value in where.items():
        query = query.where(getattr(Evidence, column) == value)
    return session.scalars(query.order_by(Evidence.recorded_at.desc()).limit(1)).first()


@dataclass
class _Lookups:
    """Where each rule's evidence is read: this instance's own records, and staging's."""

    db: Database
    settings: Settings
    instance: Instance
    for_profile: str
    transport: httpx.BaseTransport | None = None

    def __call__(self, rule: EvidenceRule, name: str) -> EvidenceUse | str | None:
        if not rule.staging:
            with self.db.read() as session:
                row = _newest(session, rule.kind, name, instance_name=self.instance.name,
                              instance_profile=self.instance.profile)  # fmt: skip
            return _use(row) if row else None
        revision = self.instance.revision if self.for_profile == "production" else None
        if self.instance.profile == "staging":
            where: dict[str, Any] = {"instance_profile": "staging"}
            if revision is not None:
                where["revision"] = revision
            with self.db.read() as session:
                row = _newest(session, rule.kind, name, **where)
            return _use(row) if row else None
        return self._from_staging(rule.kind, name, revision)

    def _from_staging(self, kind: str, name: str, revision: str | None) -> EvidenceUse | str | None:
        url = self.settings.readiness_staging_url
        token = self.settings.readiness_staging_token
        if not url or token is None:
            return "set DARVAZA_READINESS_STAGING_URL and DARVAZA_READINESS_STAGING_TOKEN"
        params = {"kind": kind, "name": name, "profile": "staging", "limit": "1"}
        if revision is not None:
            params["revision"] = revision
        try:
            with httpx.Client(transport=self.transport, timeout=STAGING_TIMEOUT_SECONDS) as client:
                answer = client.get(
                    f"{url.rstrip('/')}/api/v1/admin/evidence", params=params,
                    headers={"Authorization": f"Bearer {token.get_secret_value()}"},
                )  # fmt: skip
        except httpx.HTTPError as exc:
            return f"staging did not answer ({type(exc).__name__})"
        if answer.status_code != 200:
            return f"staging answered {answer.status_code}"
        try:
            items = answer.json()["items"]
            return next((_remote_use(item, url) for item in items if _counts(item, revision)), None)
        except (ValueError, KeyError, TypeError):
            return "staging's answer was not an evidence page"


def _counts(item: dict[str, Any], revision: str | None) -> bool:
    """Staging's record counts only when it says it is staging's (and of this build)."""
    return item["instance"]["profile"] == "staging" and (
        revision is None or item["revision"] == revision
    )


def _remote_use(item: dict[str, Any], url: str) -> EvidenceUse:
    return EvidenceUse(
        uuid.UUID(item["id"]), item["kind"], item["name"], item["result"],
        datetime.fromisoformat(item["recorded_at"]), item["instance"]["profile"],
        item["instance"]["name"], item["revision"], url,
    )  # fmt: skip


def gather_facts(
    db: Database, settings: Settings, checks: CheckSet, routes: AlertRoutes | str,
    *, for_profile: str, now: datetime,
) -> Facts:  # fmt: skip
    """`routes` is the alert routes in force, or why they cannot be used."""
    majors = {name for name, severity in SEVERITIES.items() if severity.major}
    with db.read() as session:
        break_glass = len(unreviewed_break_glass(session, limit=100))
    return Facts(
        settings=settings,
        instance=Instance.of(settings),
        for_profile=for_profile,
        now=now,
        migrations=migration_status(db),
        summary=ops_summary(db, settings, checks, now=now),
        checks=checks,
        workers=list_workers(db, stale_after=settings.worker_stale_after),
        alert_routes=routes if isinstance(routes, AlertRoutes) else None,
        alert_routes_problem=routes if isinstance(routes, str) else None,
        major_incidents_active=sum(
            count for (severity, _), count in active_counts(db).items() if severity in majors
        ),
        break_glass_unreviewed=break_glass,
    )


def _newest_exemptions(db: Database, profile: str) -> dict[str, Exemption]:
    """The newest exemption of each proof granted on this profile."""
    with db.read() as session:
        rows = session.scalars(
            select(ReadinessExemption)
            .where(ReadinessExemption.instance_profile == profile)
            .order_by(ReadinessExemption.granted_at)
        ).all()
    return {row.proof: Exemption.of(row) for row in rows}


def any_exemption_lapsed(db: Database, settings: Settings, now: datetime) -> bool:
    """Whether some proof's newest exemption here ran out without being withdrawn (only
    then can an exemption fail a proof)."""
    newest = _newest_exemptions(db, settings.profile.value)
    return any(exemption.state(now) == "expired" for exemption in newest.values())


def readiness_report(
    db: Database, settings: Settings, checks: CheckSet, routes: AlertRoutes | str,
    *, for_profile: str | None = None, now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Report:  # fmt: skip
    """Every proof judged now. `for_profile` is the profile the claim is for (default:
    this instance's); for production, staging's evidence must be of this build."""
    now = now or utcnow()
    instance = Instance.of(settings)
    profile = for_profile or instance.profile
    facts = gather_facts(db, settings, checks, routes, for_profile=profile, now=now)
    lookup: Lookup = _Lookups(db, settings, instance, profile, transport)
    return Report(
        generated_at=now,
        instance_profile=instance.profile,
        instance_name=instance.name,
        version=instance.version,
        revision=instance.revision,
        for_profile=profile,
        proofs=judge_all(facts, lookup, _newest_exemptions(db, instance.profile)),
    )


def exempt_proof(
    db: Database, settings: Settings, actor: Actor, *, who: str, proof: str, reason: str,
    expires_at: datetime, now: datetime | None = None,
) -> Exemption:  # fmt: skip
    """Let one proof stand exempt until `expires_at` (at most the setting's days), audited.
    The production claim is never exempt, nor the backup and restore drill proofs in
    production."""
    now = now or utcnow()
    found = proof_named(proof)
    if found is None:
        raise InvalidInput(f"No proof {proof}; the proofs are {', '.join(PROOF_KEYS)}.",
                           code="unknown_proof")  # fmt: skip
    profile = settings.profile.value
    if not found.exemptable(profile):
        raise InvalidInput(
            f"The {proof} proof cannot be exempted on a {profile} instance: produce the "
            "evidence instead.",
            code="proof_not_exemptable",
        )
    reason = reason.strip()
    if len(reason) < 3:
        raise InvalidInput("An exemption needs a reason.", code="reason_required")
    longest = timedelta(days=settings.readiness_exemption_max_days)
    if expires_at <= now or expires_at - now > longest:
        raise InvalidInput(
            f"An exemption ends after now and within {settings.readiness_exemption_max_days} "
            "days (DARVAZA_READINESS_EXEMPTION_MAX_DAYS).",
            code="exemption_too_long",
        )
    row = ReadinessExemption(
        id=uuid.uuid4(), proof=proof, reason=reason, instance_profile=profile, granted_at=now,
        expires_at=expires_at, granted_by_id=actor.id, granted_by=who,
    )  # fmt: skip
    with db.transaction() as session:
        session.add(row)
        append_event(
            session, action="readiness.exemption_granted", actor=actor,
            target_type="readiness_exemption", target_id=row.id,
            data={"proof": proof, "reason": reason, "expires_at": expires_at.isoformat(),
                  "profile": profile},
        )  # fmt: skip
        return Exemption.of(row)


def withdraw_exemption(
    db: Database, actor: Actor, exemption_id: uuid.UUID, *, who: str, reason: str,
    now: datetime | None = None,
) -> Exemption:  # fmt: skip
    """End an exemption now (also one that ran out: its lapse then stops failing the
    proof). Locked and re-read, so two withdrawals land once."""
    now = now or utcnow()
    with db.transaction() as session:
        row = session.scalars(
            select(ReadinessExemption)
            .where(ReadinessExemption.id == exemption_id)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound("No exemption has this id.")
        if row.withdrawn_at is not None:
            raise Conflict(f"The exemption was withdrawn already, by {row.withdrawn_by}.",
                           code="exemption_withdrawn")  # fmt: skip
        row.withdrawn_at, row.withdrawn_by, row.withdraw_reason = now, who, reason.strip()
        append_event(
            session, action="readiness.exemption_withdrawn", actor=actor,
            target_type="readiness_exemption", target_id=row.id,
            data={"proof": row.proof, "reason": row.withdraw_reason},
        )  # fmt: skip
        return Exemption.of(row)


def list_exemptions(db: Database, *, limit: int, cursor: str | None = None) -> Page[Exemption]:
    """Every exemption ever granted, newest first."""
    query = newest_first(
        select(ReadinessExemption),
        ReadinessExemption.granted_at,
        ReadinessExemption.id,
        cursor=cursor,
        limit=limit,
    )
    with db.read() as session:
        rows: Sequence[ReadinessExemption] = session.scalars(query).all()
    page = page_of(rows, limit, lambda row: time_cursor(row.granted_at, row.id))
    return Page([Exemption.of(row) for row in page.items], page.next_cursor)
