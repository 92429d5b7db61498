"""The audit log as rows for a CSV export (auditors and platform admins), streamed in
batches. The bundle (`bundle.py`) is the proof; this is for reading in a spreadsheet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from darvaza.audit.models import AuditEvent
from darvaza.db import Database
from darvaza.paging import keyset_batches

AUDIT_HEADER = (
    "event_id", "occurred_at", "actor_type", "actor_id", "actor_role", "tenant_id", "action",
    "target_type", "target_id", "ip", "request_id", "reason", "data",
)  # fmt: skip


def audit_rows(
    db: Database, since: datetime | None, until: datetime | None
) -> Iterator[tuple[object, ...]]:
    """The events that occurred in `[since, until)`, in the log's order."""
    query = select(
        AuditEvent.occurred_at, AuditEvent.actor_type, AuditEvent.actor_id, AuditEvent.actor_role,
        AuditEvent.tenant_id, AuditEvent.action, AuditEvent.target_type, AuditEvent.target_id,
        AuditEvent.ip, AuditEvent.request_id, AuditEvent.reason, AuditEvent.data, AuditEvent.id,
    )  # fmt: skip
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    for rows in keyset_batches(db, query, (AuditEvent.id,)):
        for row in rows:
            yield (
                row.id, row.occurred_at, row.actor_type, row.actor_id, row.actor_role,
                row.tenant_id, row.action, row.target_type, row.target_id, row.ip,
                row.request_id, row.reason,
                json.dumps(row.data, ensure_ascii=False, sort_keys=True),
            )  # fmt: skip
