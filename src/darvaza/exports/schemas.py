"""Exports' API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from darvaza.exports.models import Dataset, Export, ExportState
from darvaza.params import IsoTime


class ExportIn(BaseModel):
    since: IsoTime | None = Field(default=None, description="from this time (inclusive)")
    until: IsoTime | None = Field(default=None, description="before this time")


class ExportOut(BaseModel):
    id: uuid.UUID
    dataset: Dataset
    tenant_id: uuid.UUID | None
    state: ExportState
    since: datetime | None
    until: datetime | None
    rows: int | None
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="when a ready export's file is deleted")
    under_support_grant: uuid.UUID | None

    @classmethod
    def of(cls, export: Export) -> ExportOut:
        return cls(
            id=export.id, dataset=export.dataset, tenant_id=export.tenant_id,
            state=export.state, since=export.since, until=export.until, rows=export.rows,
            size_bytes=export.size_bytes, sha256=export.sha256, error=export.error,
            created_at=export.created_at, finished_at=export.finished_at,
            expires_at=export.expires_at, under_support_grant=export.grant_id,
        )  # fmt: skip


class ExportPageOut(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None


class ExportLinkOut(BaseModel):
    url: str
    expires_at: datetime
    max_uses: int


class ExportFormIn(BaseModel):
    """The console's form: which of the tenant's data (the audit log's form leaves it out),
    and the period (blank: from the beginning, until now)."""

    dataset: Literal["payments", "subscribers", "downloads"] = "payments"
    since: IsoTime | None = None
    until: IsoTime | None = None
