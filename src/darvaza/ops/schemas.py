"""Shapes of the probes' answers, and of the ops summary and its findings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from darvaza.ops.service import CheckStatus, FindingView, Summary
from darvaza.params import IsoTime


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class CheckOut(BaseModel):
    ok: bool
    detail: str
    duration_ms: float


class ReadinessOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckOut]


# --- The ops summary and its findings -----------------------------------------------------

Severity = Literal["critical", "high", "medium", "low"]
FindingState = Literal["open", "acknowledged", "resolved"]


class SubjectOut(BaseModel):
    type: str
    id: str
    tenant_id: uuid.UUID | None


class AcknowledgementOut(BaseModel):
    by: str
    reason: str
    at: datetime
    until: datetime


class PlaybookOut(BaseModel):
    path: str = Field(description="the playbook in the repository's docs")
    first_steps: list[str] = Field(description="what to do first, from the playbook")


class FindingOut(BaseModel):
    id: uuid.UUID
    code: str
    severity: Severity
    title: str
    state: FindingState = Field(
        description="as of now: an acknowledgement that ran out reads `open` at once"
    )
    subject: SubjectOut
    fingerprint: str
    fingerprint_inputs: dict[str, str] = Field(description="what the fingerprint hashes")
    first_seen_at: datetime
    last_seen_at: datetime
    opened_at: datetime = Field(description="since when it is open this time")
    age_seconds: float = Field(description="seconds since `opened_at`")
    observations: int
    recurrences: int = Field(description="how often it came back after it was resolved")
    tenants_affected: int
    details: dict[str, Any]
    acknowledgement: AcknowledgementOut | None
    resolved_at: datetime | None
    incident_id: uuid.UUID | None
    owner: str = Field(description="the platform role that answers it")
    playbook: PlaybookOut

    @classmethod
    def of(cls, view: FindingView) -> FindingOut:
        finding = view.finding
        acknowledgement = None
        if view.state == "acknowledged" and finding.acknowledged_until is not None:
            acknowledgement = AcknowledgementOut(
                by=finding.acknowledged_by or "",
                reason=finding.acknowledged_reason or "",
                at=finding.acknowledged_at or finding.updated_at,
                until=finding.acknowledged_until,
            )
        return cls(
            id=finding.id,
            code=finding.code,
            severity=finding.severity,
            title=finding.title,
            state=view.state,
            subject=SubjectOut(
                type=finding.subject_type, id=finding.subject_id, tenant_id=finding.tenant_id
            ),
            fingerprint=finding.fingerprint,
            fingerprint_inputs=finding.inputs,
            first_seen_at=finding.first_seen_at,
            last_seen_at=finding.last_seen_at,
            opened_at=finding.opened_at,
            age_seconds=round(view.age_seconds, 1),
            observations=finding.observations,
            recurrences=finding.recurrences,
            tenants_affected=finding.tenants_affected,
            details=finding.details,
            acknowledgement=acknowledgement,
            resolved_at=finding.resolved_at,
            incident_id=finding.incident_id,
            owner=view.owner,
            playbook=PlaybookOut(path=view.playbook, first_steps=list(view.first_steps)),
        )


class FindingEventOut(BaseModel):
    at: datetime
    kind: str
    state: FindingState
    actor: str | None
    note: str
    details: dict[str, Any]


class FindingHistoryOut(BaseModel):
    finding: FindingOut
    events: list[FindingEventOut]


class FindingPageOut(BaseModel):
    items: list[FindingOut]
    next_cursor: str | None


class AcknowledgeIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="why it may stay quiet")
    until: IsoTime = Field(description="when it opens again; in the future, within the limit")


class AcknowledgeFormIn(BaseModel):
    """The console's acknowledgement: for how many hours from now, rather than until when."""

    reason: str = Field(min_length=3, max_length=500, description="why it may stay quiet")
    hours: int = Field(ge=1, le=24 * 90, description="how long it stays quiet, from now")


class CheckStatusOut(BaseModel):
    code: str
    severity: Severity
    title: str
    owner: str
    every_seconds: float
    playbook: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    duration_ms: float | None
    observed: int = Field(description="subjects its last run saw")
    error: str | None = Field(description="what its last run raised, if it did")
    stale: bool = Field(description="not run within twice its interval and a minute")

    @classmethod
    def of(cls, status: CheckStatus) -> CheckStatusOut:
        check, run = status.check, status.run
        return cls(
            code=check.code,
            severity=check.severity,
            title=check.title,
            owner=check.owner,
            every_seconds=check.every.total_seconds(),
            playbook=check.playbook,
            last_started_at=run.started_at if run else None,
            last_finished_at=run.finished_at if run else None,
            duration_ms=run.duration_ms if run else None,
            observed=run.observed if run else 0,
            error=status.error,
            stale=status.stale,
        )


class SummaryInstanceOut(BaseModel):
    name: str
    profile: str
    version: str
    revision: str | None
    migration_head: str | None


class CountsOut(BaseModel):
    by_severity: dict[Severity, int]
    by_state: dict[Literal["open", "acknowledged"], int]


class SummaryOut(BaseModel):
    """The ops summary. `schema_version` changes whenever this shape does
    (docs/api/ops-summary.schema.json)."""

    schema_version: Literal["1"]
    generated_at: datetime
    instance: SummaryInstanceOut
    status: Literal["ok", "degraded", "critical"] = Field(
        description="critical: an open critical finding; degraded: any other unresolved "
        "finding, or a check stale or erroring; ok: none of these"
    )
    all_checks_fresh: bool
    counts: CountsOut
    checks: list[CheckStatusOut]
    findings: list[FindingOut] = Field(description="unresolved, worst first, then oldest")

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        instance = summary.instance
        return cls(
            schema_version="1",
            generated_at=summary.generated_at,
            instance=SummaryInstanceOut(
                name=instance.name,
                profile=instance.profile,
                version=instance.version,
                revision=instance.revision,
                migration_head=summary.migration_head,
            ),
            status=summary.status,
            all_checks_fresh=summary.all_checks_fresh,
            counts=CountsOut.model_validate(summary.counts()),
            checks=[CheckStatusOut.of(status) for status in summary.checks],
            findings=[FindingOut.of(view) for view in summary.findings],
        )
