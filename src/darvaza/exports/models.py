"""Exports' tables: each export asked for, and the short-lived links that deliver it.

An export moves through `EXPORT`: queued, running (a job writes it), ready (its file is
whole and private), then expired (the file deleted); failed when it could not be made.
A link is a token stored only as its hash, good for a few uses until it expires.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import Base
from darvaza.identity.models import User  # noqa: F401 (the users table, for foreign keys)
from darvaza.states import table

EXPORT = table("export", queued="running failed", running="ready failed queued", ready="expired")
Dataset = Literal["payments", "subscribers", "downloads", "audit"]
ExportState = Literal["queued", "running", "ready", "failed", "expired"]
DATASETS: tuple[str, ...] = get_args(Dataset)


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = (
        CheckConstraint(
            "dataset IN ('payments', 'subscribers', 'downloads', 'audit')", name="dataset_known"
        ),
        CheckConstraint(
            "state IN ('queued', 'running', 'ready', 'failed', 'expired')", name="state_known"
        ),
        # Someone's exports, newest first; and the ready ones past their expiry.
        Index("ix_exports_requested_by_created_at", "requested_by", "created_at"),
        Index("ix_exports_state_expires_at", "state", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset: Mapped[str] = mapped_column(String(16))
    # The tenant whose data it holds (None: the audit log, the platform's).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The support grant it was asked under, checked again at every download.
    grant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    since: Mapped[datetime | None]
    until: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int | None] = mapped_column(BigInteger)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class ExportLink(Base):
    __tablename__ = "export_links"
    __table_args__ = (Index("ix_export_links_export_id", "export_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exports.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)


def describe(export: Export) -> dict[str, Any]:
    """What the audit log keeps of an export."""
    return describe_period(export.dataset, export.tenant_id, export.since, export.until)


def describe_period(
    dataset: str, tenant_id: uuid.UUID | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """What the audit log keeps of any export: what, whose and for when."""
    return {"dataset": dataset, "tenant_id": str(tenant_id or ""),
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None}  # fmt: skip
