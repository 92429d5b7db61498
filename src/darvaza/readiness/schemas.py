"""Readiness's API shapes: the report, its proofs and their evidence, and exemptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from darvaza.params import IsoTime
from darvaza.readiness.report import EvidenceUse, Exemption, ProofResult, Report

# The proofs' keys, as `proofs.PROOFS` orders them (a test keeps the two equal).
ProofKey = Literal[
    "staging_smoke", "deployment", "environment", "migration", "backup", "restore_drill",
    "monitoring", "alert_routing", "incident_rollback", "support_audit", "production_claim",
]  # fmt: skip
ProofStatus = Literal["pass", "fail", "stale", "missing", "exempt"]
Verdict = Literal["READY", "NOT_READY"]
ForProfile = Literal["local", "staging", "production"]


class EvidenceUseOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    result: str
    recorded_at: datetime
    age_seconds: float
    instance: str = Field(description="profile/name of the instance that recorded it")
    revision: str | None
    source: str = Field(description="`local`, or staging's URL when read from staging")

    @classmethod
    def of(cls, use: EvidenceUse, now: datetime) -> EvidenceUseOut:
        return cls(
            id=use.id, kind=use.kind, name=use.name, result=use.result,
            recorded_at=use.recorded_at, age_seconds=round(use.age_seconds(now), 1),
            instance=f"{use.instance_profile}/{use.instance_name}", revision=use.revision,
            source=use.source,
        )  # fmt: skip


class ExemptionOut(BaseModel):
    id: uuid.UUID
    proof: str
    reason: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime
    state: Literal["active", "expired", "withdrawn"]
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None

    @classmethod
    def of(cls, exemption: Exemption, now: datetime) -> ExemptionOut:
        return cls(
            id=exemption.id, proof=exemption.proof, reason=exemption.reason,
            granted_by=exemption.granted_by, granted_at=exemption.granted_at,
            expires_at=exemption.expires_at, state=exemption.state(now),
            withdrawn_at=exemption.withdrawn_at, withdrawn_by=exemption.withdrawn_by,
            withdraw_reason=exemption.withdraw_reason,
        )  # fmt: skip


class ProofOut(BaseModel):
    key: ProofKey
    title: str
    description: str
    status: ProofStatus
    evidence: list[EvidenceUseOut]
    blockers: list[str] = Field(description="what keeps it from passing (empty when it passes)")
    commands: list[str] = Field(description="the commands that would produce what is missing")
    exemption: ExemptionOut | None

    @classmethod
    def of(cls, proof: ProofResult, now: datetime) -> ProofOut:
        return cls(
            key=proof.key,
            title=proof.title, description=proof.description, status=proof.status,
            evidence=[EvidenceUseOut.of(use, now) for use in proof.evidence],
            blockers=[str(blocker) for blocker in proof.blockers], commands=proof.commands,
            exemption=ExemptionOut.of(proof.exemption, now) if proof.exemption else None,
        )  # fmt: skip


class ReadinessOut(BaseModel):
    verdict: Verdict
    generated_at: datetime
    instance: str = Field(description="profile/name of the instance judged")
    version: str
    revision: str | None
    for_profile: ForProfile
    blocking: list[ProofKey] = Field(description="the proofs that do not hold, in order")
    proofs: list[ProofOut]

    @classmethod
    def of(cls, report: Report) -> ReadinessOut:
        now = report.generated_at
        return cls(
            verdict=report.verdict,
            generated_at=now,
            instance=f"{report.instance_profile}/{report.instance_name}",
            version=report.version,
            revision=report.revision,
            for_profile=report.for_profile,
            blocking=[proof.key for proof in report.blocking],
            proofs=[ProofOut.of(proof, now) for proof in report.proofs],
        )


class ExemptionIn(BaseModel):
    proof: ProofKey
    reason: str = Field(min_length=3, max_length=500, description="why it may stand exempt")
    expires_at: IsoTime = Field(description="when it ends (within the setting's days)")


class ExemptionFormIn(BaseModel):
    """The console's exemption: for how many days from now, rather than until when."""

    proof: ProofKey
    reason: str = Field(min_length=3, max_length=500)
    days: int = Field(ge=1, le=90)


class WithdrawIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="why it ends now")


class ExemptionPageOut(BaseModel):
    items: list[ExemptionOut]
    next_cursor: str | None
