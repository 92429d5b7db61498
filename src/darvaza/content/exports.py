"""A tenant's download log as rows for a CSV export, streamed in batches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from darvaza.content.models import ContentItem, DownloadRecord
from darvaza.db import Database
from darvaza.identity import service as identity
from darvaza.paging import keyset_batches

DOWNLOAD_HEADER = (
    "download_id", "occurred_at", "customer_email", "content_id", "title", "outcome",
    "status_code", "bytes_sent", "ip",
)  # fmt: skip


def download_rows(
    db: Database, tenant_id: uuid.UUID, since: datetime | None, until: datetime | None
) -> Iterator[tuple[object, ...]]:
    """Every delivery attempt on the tenant's content in `[since, until)`, oldest first."""
    query = (
        select(
            DownloadRecord.occurred_at, DownloadRecord.user_id, DownloadRecord.content_id,
            ContentItem.title, DownloadRecord.outcome, DownloadRecord.status_code,
            DownloadRecord.bytes_sent, DownloadRecord.ip, DownloadRecord.id,
        )
        .outerjoin(ContentItem, ContentItem.id == DownloadRecord.content_id)
        .where(DownloadRecord.tenant_id == tenant_id)
    )  # fmt: skip
    if since is not None:
        query = query.where(DownloadRecord.occurred_at >= since)
    if until is not None:
        query = query.where(DownloadRecord.occurred_at < until)
    for rows in keyset_batches(db, query, (DownloadRecord.id,)):
        with db.read() as session:
            emails = identity.emails_by_id(session, {row.user_id for row in rows})
        for row in rows:
            yield (
                row.id, row.occurred_at, emails.get(row.user_id, ""), row.content_id, row.title,
                row.outcome, row.status_code, row.bytes_sent, row.ip,
            )  # fmt: skip
