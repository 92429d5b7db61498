"""Users and their credentials.

A credential is anything presented as `Authorization: Bearer`: a login session or a staff
API token. Both are opaque random tokens stored only as hashes, both can be revoked, and
one table serves both so that authentication is one lookup.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from darvaza.db import Base

SESSION = "session"
API_TOKEN = "api_token"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "platform_role IN ('platform_admin', 'support_admin', 'auditor')",
            name="platform_role_known",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored normalised (lower case), so uniqueness is case-insensitive on both engines.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    platform_role: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    # Set when the person proved the address is theirs (or staff created the account).
    email_verified_at: Mapped[datetime | None]
    # The console language the person chose ("fa", "ar", "en"); None follows the browser.
    language: Mapped[str | None] = mapped_column(String(8))


class Credential(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint("kind IN ('session', 'api_token')", name="kind_known"),
        Index("ix_credentials_user_id_kind", "user_id", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    # Sessions always expire; an API token may be made without an expiry.
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    created_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    user: Mapped[User] = relationship(lazy="joined")


class OneTimeToken(Base):
    """A single-use token sent by email: a password reset, an address to verify, an
    invitation to a tenant. Stored as a hash; used once; expires."""

    __tablename__ = "one_time_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('password_reset', 'email_verification', 'tenant_invitation')",
            name="purpose_known",
        ),
        Index("ix_one_time_tokens_email_purpose", "email", "purpose"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # For invitations: where, and as what.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE")
    )
    role: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
