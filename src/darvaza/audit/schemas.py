"""Shapes of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
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
    hash: str


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None
