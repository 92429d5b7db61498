"""Content tables: items and the plans that unlock them, download tokens, and the
download log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import Base
from darvaza.states import table

LogId = BigInteger().with_variant(Integer(), "sqlite")

# A content item: draft → published → archived, and nothing else.
CONTENT_ITEM = table("content item", draft="published", published="archived")


class ContentItem(Base):
    __tablename__ = "content_items"
    __table_args__ = (
        CheckConstraint("state IN ('draft', 'published', 'archived')", name="state_known"),
        CheckConstraint("unlocked_by IN ('any_plan', 'chosen_plans')", name="unlock_known"),
        Index("ix_content_items_tenant_id_state", "tenant_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    # Any active subscription of the tenant, or only subscriptions to the chosen plans.
    unlocked_by: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    # The uploader's name for the file: metadata for Content-Disposition, never a path.
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class ContentPlan(Base):
    __tablename__ = "content_plans"

    content_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )


class DownloadToken(Base):
    __tablename__ = "download_tokens"
    __table_args__ = (Index("ix_download_tokens_content_id", "content_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    content_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Downloads the link serves, counted in bytes: up to max_uses times the file's size.
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)  # requests
    bytes_served: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_at: Mapped[datetime | None]
    created_ip: Mapped[str | None] = mapped_column(String(45))


class DownloadRecord(Base):
    """One delivery attempt that reached a real token: who, what, how much, and how it
    ended."""

    __tablename__ = "download_log"
    __table_args__ = (Index("ix_download_log_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(LogId, primary_key=True, autoincrement=True)
    token_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    content_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    occurred_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(45))
    outcome: Mapped[str] = mapped_column(String(30))
    status_code: Mapped[int] = mapped_column(Integer)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    range_start: Mapped[int | None] = mapped_column(BigInteger)
    range_end: Mapped[int | None] = mapped_column(BigInteger)
