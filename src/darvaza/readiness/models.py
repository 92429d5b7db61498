"""Readiness's table: the exemptions.

An exemption stands in for one proof until it expires or a platform admin withdraws it.
Its row changes once at most (withdrawn); its history is also in the audit log. An
exemption that ran out is kept, so the report can say the proof's stand-in lapsed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import Base


class ReadinessExemption(Base):
    __tablename__ = "readiness_exemptions"
    __table_args__ = (
        CheckConstraint("expires_at > granted_at", name="expires_after_granted"),
        # The newest exemption of each proof, for every report.
        Index("ix_readiness_exemptions_proof_granted_at", "proof", "granted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    proof: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    # The profile of the instance it was granted on: it counts only there.
    instance_profile: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Who, as the audit log names an actor, and as a reader knows them (an email, or `cli`).
    granted_by_id: Mapped[str | None] = mapped_column(String(64))
    granted_by: Mapped[str] = mapped_column(String(320))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(320))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
