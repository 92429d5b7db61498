"""Download tokens and deliveries: who may fetch which file, once it is asked for.

A token is bound to one user and one item, lives a few minutes, allows a few uses, and is
stored only as a hash. At download time everything is checked again, entitlement included:
a subscription that ended after the token was issued stops the download.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.content.http_delivery import ByteRange, RangeNotSatisfiable, parse_range
from darvaza.content.items import caller_standing, entitled, get_item
from darvaza.content.models import ContentItem, DownloadRecord, DownloadToken
from darvaza.db import Database, changed_rows, lock_row
from darvaza.errors import Conflict, DarvazaError, Forbidden, Gone, NotFound
from darvaza.identity import service as identity
from darvaza.security.caller import Actor
from darvaza.security.tokens import hash_token, looks_like_token, new_token

DOWNLOAD_PREFIX = "dzd_"
# A link serves `max_uses` downloads, counted in bytes (that many times the file), not in
# requests: a download manager fetches one file in 8 to 32 ranges at once. Requests are
# capped too, so that tiny ranges cannot turn one link into endless traffic.
REQUESTS_PER_DOWNLOAD = 64


@dataclass(frozen=True)
class NewDownload:
    token: str
    token_id: uuid.UUID
    expires_at: datetime
    max_uses: int


def issue_download_token(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    item_id: uuid.UUID,
    user_id: uuid.UUID,
    ttl: timedelta,
    max_uses: int,
    ip: str | None,
) -> NewDownload:
    now = utcnow()
    with db.transaction() as session:
        item = get_item(session, tenant_id, item_id)
        standing = caller_standing(session, tenant_id, user_id, now)
        if item.state != "published":
            # Its staff know the item exists; to anyone else a draft is not there at all.
            if standing.staff:
                raise Conflict(f"A {item.state} item has no download links.", code="not_published")
            raise NotFound("No such content item.")
        allowed = entitled(session, item, user_id, now, standing)
        if allowed:
            token, token_hash = new_token(DOWNLOAD_PREFIX)
            record = DownloadToken(
                token_hash=token_hash,
                tenant_id=tenant_id,
                content_id=item.id,
                user_id=user_id,
                created_at=now,
                expires_at=now + ttl,
                max_uses=max_uses,
                uses=0,
                created_ip=ip,
            )
            session.add(record)
            session.flush()
        append_event(
            session,
            action="content.download_token_issued" if allowed else "content.download_refused",
            actor=actor,
            tenant_id=tenant_id,
            target_type="content",
            target_id=item.id,
            reason=None if allowed else "not_entitled",
            data={"token_id": record.id} if allowed else {},
        )
    if not allowed:
        raise Forbidden("You have no active subscription that unlocks this.", code="not_entitled")
    return NewDownload(token, record.id, record.expires_at, max_uses)


@dataclass(frozen=True)
class Grant:
    """One request on a token, granted: what to send, to whom. `byte_range` is the range
    asked for (None: the whole file); `range_refused` when the asked range is not in the
    file (nothing was charged)."""

    token_id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    item: ContentItem
    byte_range: ByteRange | None = None
    range_refused: bool = False

    @property
    def charged(self) -> int:
        if self.range_refused:
            return 0
        return self.byte_range.length if self.byte_range else self.item.size_bytes


def _requested(
    item: ContentItem, range_header: str | None, if_range: str | None
) -> tuple[ByteRange | None, bool]:
    if range_header is not None and if_range is not None and if_range != f'"{item.sha256}"':
        return None, False  # the file changed since the client's first part: send it whole
    try:
        return parse_range(range_header, item.size_bytes), False
    except RangeNotSatisfiable:
        return None, True


def open_download(
    db: Database,
    token: str,
    *,
    ip: str | None,
    range_header: str | None = None,
    if_range: str | None = None,
) -> Grant:
    """Check a token again, in full, and charge the bytes this request asks for (the range,
    or the whole file) to the link's budget of `max_uses` times the file. A refusal of a
    real token is on record (audit event and download log); an unknown one is just
    unknown (404)."""
    # Long because: every refusal of a link is decided in order under the link's row lock,
    # and the order is the rule.
    if not looks_like_token(token) or not token.startswith(DOWNLOAD_PREFIX):
        raise NotFound("No such download.")
    now = utcnow()
    refusal: DarvazaError | None = None
    with db.transaction() as session:
        record = lock_row(
            session,
            DownloadToken,
            DownloadToken.token_hash == hash_token(token),
            missing="No such download.",
        )
        item = session.get(ContentItem, record.content_id)
        if record.revoked_at is not None:
            refusal = Gone("This download link was revoked.", code="token_revoked")
        elif record.expires_at <= now:
            refusal = Gone("This download link has expired.", code="token_expired")
        elif item is not None and _spent(record, item):
            refusal = Gone("This download link has been used up.", code="token_used_up")
        elif item is None or item.state != "published":
            refusal = Gone("This item is no longer available.", code="content_unavailable")
        elif not entitled(session, item, record.user_id, now):
            refusal = Forbidden("Your subscription no longer unlocks this.", code="not_entitled")
        if refusal is not None:
            _log(
                session,
                token_id=record.id,
                tenant_id=record.tenant_id,
                content_id=record.content_id,
                user_id=record.user_id,
                ip=ip,
                outcome=refusal.code,
                status=refusal.status_code,
            )
            append_event(
                session,
                action="content.download_refused",
                actor=Actor.user(record.user_id, None),
                tenant_id=record.tenant_id,
                target_type="content",
                target_id=record.content_id,
                reason=refusal.code,
                data={"token_id": record.id},
            )
        else:
            assert item is not None  # noqa: S101 (checked above)
            byte_range, range_refused = _requested(item, range_header, if_range)
            grant = Grant(
                record.id, record.tenant_id, record.user_id, item, byte_range, range_refused
            )
            record.uses += 1
            record.bytes_served += grant.charged
    if refusal is not None:
        raise refusal
    return grant


def _spent(record: DownloadToken, item: ContentItem) -> bool:
    """Whether the link has served its downloads' worth of bytes, or of requests."""
    return (
        record.bytes_served >= record.max_uses * max(item.size_bytes, 1)
        or record.uses >= record.max_uses * REQUESTS_PER_DOWNLOAD
    )


def _log(
    session: Session,
    *,
    token_id: uuid.UUID,
    tenant_id: uuid.UUID,
    content_id: uuid.UUID,
    user_id: uuid.UUID,
    ip: str | None,
    outcome: str,
    status: int,
    bytes_sent: int = 0,
    start: int | None = None,
    end: int | None = None,
) -> None:
    session.add(
        DownloadRecord(
            token_id=token_id,
            tenant_id=tenant_id,
            content_id=content_id,
            user_id=user_id,
            occurred_at=utcnow(),
            ip=ip,
            outcome=outcome,
            status_code=status,
            bytes_sent=bytes_sent,
            range_start=start,
            range_end=end,
        )
    )


def record_delivery(
    db: Database,
    grant: Grant,
    *,
    ip: str | None,
    outcome: str,
    status: int,
    bytes_sent: int,
    start: int | None = None,
    end: int | None = None,
    refund: int = 0,
) -> None:
    """Log how a granted request ended; `refund` gives back to the link the bytes that
    were charged but not sent (an interrupted download resumes on the same link)."""
    with db.transaction() as session:
        if refund > 0:
            session.execute(
                update(DownloadToken)
                .where(DownloadToken.id == grant.token_id)
                .values(bytes_served=DownloadToken.bytes_served - refund)
            )
        _log(
            session,
            token_id=grant.token_id,
            tenant_id=grant.tenant_id,
            content_id=grant.item.id,
            user_id=grant.user_id,
            ip=ip,
            outcome=outcome,
            status=status,
            bytes_sent=bytes_sent,
            start=start,
            end=end,
        )


def revoke_item_tokens(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, item_id: uuid.UUID
) -> int:
    now = utcnow()
    with db.transaction() as session:
        item = get_item(session, tenant_id, item_id)
        revoked = changed_rows(
            session,
            update(DownloadToken)
            .where(
                DownloadToken.content_id == item.id,
                DownloadToken.revoked_at.is_(None),
                DownloadToken.expires_at > now,
            )
            .values(revoked_at=now),
        )
        append_event(
            session,
            action="content.tokens_revoked",
            actor=actor,
            tenant_id=tenant_id,
            target_type="content",
            target_id=item.id,
            data={"revoked": revoked},
        )
    return int(revoked or 0)


def download_log(
    db: Database, tenant_id: uuid.UUID, *, limit: int
) -> list[tuple[DownloadRecord, str, str]]:
    """The tenant's downloads, newest first, each with who downloaded and the item's title."""
    with db.read() as session:
        rows = session.execute(
            select(DownloadRecord, ContentItem.title)
            .join(ContentItem, ContentItem.id == DownloadRecord.content_id)
            .where(DownloadRecord.tenant_id == tenant_id)
            .order_by(DownloadRecord.id.desc())
            .limit(limit)
        ).all()
        emails = identity.emails_by_id(session, {row[0].user_id for row in rows})
    return [(row[0], emails[row[0].user_id], row[1]) for row in rows]


def delete_ended_download_tokens(
    db: Database, *, keep: timedelta, now: datetime | None = None
) -> int:
    """Delete download tokens that expired or were revoked more than `keep` ago. The
    download log keeps its own copy of who downloaded what."""
    cutoff = (now or utcnow()) - keep
    with db.transaction() as session:
        return changed_rows(
            session,
            delete(DownloadToken).where(
                or_(DownloadToken.expires_at < cutoff, DownloadToken.revoked_at < cutoff)
            ),
        )


def download_outcomes_between(
    session: Session, tenant_ids: Sequence[uuid.UUID] | None, since: datetime, until: datetime
) -> dict[str, int]:
    """Deliveries attempted in `[since, until)` (for these tenants; None: all) by outcome."""
    query = select(DownloadRecord.outcome, func.count()).where(
        DownloadRecord.occurred_at >= since, DownloadRecord.occurred_at < until
    )
    if tenant_ids is not None:
        query = query.where(DownloadRecord.tenant_id.in_(tenant_ids))
    rows = session.execute(query.group_by(DownloadRecord.outcome)).all()
    return {outcome: int(count) for outcome, count in rows}
