"""Shapes of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from darvaza.audit.models import AuditEvent, AuditSeal


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int | None = Field(
        default=None, description="the event's place in the sealed log; null until sealed"
    )
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_role: str | None
    tenant_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    reason: str | None
    data: dict[str, Any]
    hash: str | None = Field(
        default=None, description="what the sealer signed for it; null until sealed"
    )

    @classmethod
    def of(cls, event: AuditEvent, seal: AuditSeal | None) -> AuditEventOut:
        shown = cls.model_validate(event)
        if seal is not None:
            shown.seq, shown.hash = seal.seq, seal.hash
        return shown


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None
