"""Shapes of the operations API: evidence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from darvaza.operations.models import Evidence, EvidenceKind, EvidenceResult
from darvaza.params import IsoTime
from darvaza.security.roles import PlatformRole

__all__ = ["EvidenceKind", "EvidenceResult"]  # the routes' filters, from the table's own lists

EVIDENCE_NAME = r"^[a-z0-9][a-z0-9._:/-]{0,99}$"
EvidenceName = Annotated[
    str, Field(pattern=EVIDENCE_NAME, description="what ran, such as `mock-payment` or `lint`")
]


class EvidenceIn(BaseModel):
    kind: EvidenceKind
    name: EvidenceName
    result: EvidenceResult
    details: dict[str, Any] = Field(
        default_factory=dict, description="what the run found: JSON, at most 16 KiB"
    )
    started_at: IsoTime | None = Field(default=None, description="default: finished_at")
    finished_at: IsoTime | None = Field(default=None, description="default: now")


class InstanceOut(BaseModel):
    profile: str
    name: str


class RecordedByOut(BaseModel):
    type: str
    id: str | None
    role: str | None


class EvidenceOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    result: str
    details: dict[str, Any]
    started_at: datetime
    finished_at: datetime
    recorded_at: datetime
    version: str
    revision: str | None
    migration_head: str | None
    instance: InstanceOut
    recorded_by: RecordedByOut

    @classmethod
    def of(cls, evidence: Evidence) -> EvidenceOut:
        return cls(
            id=evidence.id,
            kind=evidence.kind,
            name=evidence.name,
            result=evidence.result,
            details=evidence.details,
            started_at=evidence.started_at,
            finished_at=evidence.finished_at,
            recorded_at=evidence.recorded_at,
            version=evidence.version,
            revision=evidence.revision,
            migration_head=evidence.migration_head,
            instance=InstanceOut(profile=evidence.instance_profile, name=evidence.instance_name),
            recorded_by=RecordedByOut(
                type=evidence.recorded_by_type,
                id=evidence.recorded_by_id,
                role=evidence.recorded_by_role,
            ),
        )


class EvidencePageOut(BaseModel):
    items: list[EvidenceOut]
    next_cursor: str | None


class FixtureAccountIn(BaseModel):
    label: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,30}$", description="the account is smoke-<label>@example.com"
    )
    platform_role: PlatformRole | None = None


class SmokeFixtureIn(BaseModel):
    accounts: list[FixtureAccountIn] = Field(
        default_factory=list,
        max_length=20,
        description="besides the two tenants' owners (`owner`, `other-owner`), always made",
    )


class FixtureAccountOut(BaseModel):
    label: str
    email: str
    password: str = Field(description="new on every call, shown only here")
    user_id: uuid.UUID
    platform_role: PlatformRole | None


class SmokeFixtureOut(BaseModel):
    tenant: str = Field(description="the smoke checks' tenant (synthetic), on the mock gateway")
    other_tenant: str = Field(description="a second synthetic tenant, for what must stay another's")
    plan_code: str
    accounts: list[FixtureAccountOut]
