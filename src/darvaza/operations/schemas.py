"""Shapes of the operations API: evidence, the smoke fixture, restore points and drills."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from darvaza.operations.models import Evidence, EvidenceKind, EvidenceResult
from darvaza.operations.service import RESTORE_POINT, RestorePointView, drill_facts
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


# --- Restore points and drills (read only) ---------------------------------------------

RESTORE_POINT_ID = RESTORE_POINT.pattern
# The position after a restore point: its time in microseconds since 1970 and its id.
RestorePointCursor = Annotated[
    str | None,
    Query(pattern="^[0-9]{1,17}_" + RESTORE_POINT_ID.removeprefix("^"),
          description="`next_cursor` of the page before"),
]  # fmt: skip


class PartOut(BaseModel):
    name: str = Field(
        description="the stored file: `database.sqlite3` or `database.pgdump`, `files.tar`, "
        "`config.json`, with `.zst` when compressed and `.age` when encrypted"
    )
    size: int = Field(description="the stored file's size")
    sha256: str = Field(description="the stored file's SHA-256 (checked without any key)")
    encoding: list[Literal["zstd", "age"]] = Field(
        description="how it was sealed, in the order applied; empty: stored as it is"
    )
    plain_name: str
    plain_size: int = Field(description="its size unsealed")

    @classmethod
    def of(cls, part: dict[str, Any]) -> PartOut:
        return cls(
            name=part["name"], size=part["size"], sha256=part["sha256"],
            encoding=part.get("encoding", []), plain_name=part.get("plain_name", part["name"]),
            plain_size=part.get("plain_size", part["size"]),
        )  # fmt: skip


class SealingOut(BaseModel):
    compression: Literal["zstd"] | None = Field(description="`zstd`, or none")
    age_recipients: list[str] = Field(
        description="the age public keys it was encrypted to; empty: not encrypted"
    )


class RestorePointOut(BaseModel):
    id: str
    label: str | None
    created_at: datetime
    engine: str = Field(description="`sqlite` or `postgresql`: it restores only there")
    bytes: int = Field(description="the parts' total size")
    seconds: float = Field(description="how long it took to write")
    darvaza_version: str | None
    revision: str | None
    migration_head: str | None
    newest_change_at: datetime | None = Field(
        description="the newest change it holds: what a restore would lose is after this"
    )
    instance: InstanceOut | None = Field(description="where it was taken")
    tables: dict[str, int] = Field(description="each table's row count at the snapshot")
    files: int = Field(description="content files in it")
    file_problems: list[str] = Field(description="items whose file was missing or differed")
    unreferenced_files: int = Field(description="stored files no item refers to (not copied)")
    parts: list[PartOut]
    sealing: SealingOut
    last_verify: EvidenceOut | None = Field(description="its newest `backup_verify` evidence")
    last_drill: EvidenceOut | None = Field(description="its newest `restore_drill` evidence")

    @classmethod
    def of(cls, view: RestorePointView) -> RestorePointOut:
        point, manifest = view.point, view.point.manifest
        profile, name = manifest.get("profile"), manifest.get("instance")
        return cls(
            id=point.id, label=point.label, created_at=point.created_at, engine=point.engine,
            bytes=point.size, seconds=manifest["seconds"],
            darvaza_version=manifest.get("darvaza_version"), revision=manifest.get("revision"),
            migration_head=manifest["migration_head"],
            newest_change_at=point.newest_change_at,
            instance=InstanceOut(profile=profile, name=name)
            if isinstance(profile, str) and isinstance(name, str) else None,
            tables=manifest["tables"], files=len(manifest["files"]),
            file_problems=manifest["file_problems"],
            unreferenced_files=len(manifest["unreferenced_files"]),
            parts=[PartOut.of(part) for part in manifest["parts"]],
            sealing=SealingOut(**manifest.get("sealing", {"compression": None,
                                                           "age_recipients": []})),
            last_verify=view.last_verify and EvidenceOut.of(view.last_verify),
            last_drill=view.last_drill and EvidenceOut.of(view.last_drill),
        )  # fmt: skip


class RestorePointPageOut(BaseModel):
    items: list[RestorePointOut]
    next_cursor: str | None


class DrillStepOut(BaseModel):
    step: str = Field(description="`backup`, `restore and deep checks`, `migrate`, …")
    seconds: float


class RestoreDrillOut(BaseModel):
    id: uuid.UUID = Field(description="its evidence's id")
    result: str
    point: str | None = Field(description="the restore point it drilled")
    rto_seconds: float | None = Field(description="from the start to green smoke checks")
    rpo_seconds: float | None = Field(description="the age of the restore point's newest change")
    steps: list[DrillStepOut]
    problems: list[str]
    started_at: datetime
    finished_at: datetime
    instance: InstanceOut
    recorded_by: RecordedByOut

    @classmethod
    def of(cls, evidence: Evidence) -> RestoreDrillOut:
        facts = drill_facts(evidence)
        shown = EvidenceOut.of(evidence)
        return cls(
            id=evidence.id, result=evidence.result, point=facts.point,
            rto_seconds=facts.rto_seconds, rpo_seconds=facts.rpo_seconds,
            steps=[DrillStepOut(step=step, seconds=seconds) for step, seconds in facts.steps],
            problems=facts.problems, started_at=evidence.started_at,
            finished_at=evidence.finished_at, instance=shown.instance,
            recorded_by=shown.recorded_by,
        )  # fmt: skip


class RestoreDrillPageOut(BaseModel):
    items: list[RestoreDrillOut]
    next_cursor: str | None
