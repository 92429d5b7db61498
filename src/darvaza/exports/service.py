"""Exports' one face: asking for an export (audited, with the job that makes it, in one
transaction), making it (streamed to a private file under a temporary name, renamed only
when whole), listing one's own, a short-lived download link, the download itself (the
right to the data checked again, audited), and deleting what has expired.

Who may export what is the route's policy (a tenant's staff, a support admin under a
grant covering the data, auditors and platform admins for the audit log). That right is
checked again at every link and download: a grant that ended, a role taken away, stops
the file from leaving.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.exports import AUDIT_HEADER, audit_rows
from darvaza.audit.service import append_event
from darvaza.billing import service as billing
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.content import service as content
from darvaza.db import Database
from darvaza.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from darvaza.exports.models import (
    DATASETS,
    EXPORT,
    Export,
    ExportLink,
    describe,
    describe_period,
)
from darvaza.identity import service as identity
from darvaza.jobs.queue import enqueue
from darvaza.paging import Page, check_range, newest_first, page_of, time_cursor
from darvaza.security.caller import Actor
from darvaza.security.grants import GrantScope
from darvaza.security.roles import PlatformRole
from darvaza.security.tokens import hash_token, new_token
from darvaza.support.service import active_grant_for
from darvaza.tenants import service as tenants

LINK_PREFIX = "dze_"
WRITE_CHUNK = 2000
# The data class a support grant must cover to export each tenant dataset.
DATA_CLASS = {"payments": "payments", "subscribers": "subscriptions", "downloads": "downloads"}
AUDIT_ROLES = frozenset({PlatformRole.PLATFORM_ADMIN, PlatformRole.AUDITOR})
# Spreadsheets read a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """One CSV cell: text a spreadsheet would take for a formula starts with a quote;
    times are UTC; what is not text (a number, an id) is written as it is."""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return "" if value is None else value


Rows = tuple[tuple[str, ...], Iterator[tuple[object, ...]]]


def _rows(
    db: Database, dataset: str, tenant_id: uuid.UUID | None,
    since: datetime | None, until: datetime | None,
) -> Rows:  # fmt: skip
    """A dataset's header and its rows, streamed (a tenant's, but for the audit log)."""
    if dataset == "audit":
        return AUDIT_HEADER, audit_rows(db, since, until)
    if tenant_id is None:
        raise ValueError(f"a {dataset} export names its tenant")
    if dataset == "payments":
        return billing.PAYMENT_HEADER, billing.payment_rows(db, tenant_id, since, until)
    if dataset == "subscribers":
        return billing.SUBSCRIBER_HEADER, billing.subscriber_rows(db, tenant_id, since, until)
    return content.DOWNLOAD_HEADER, content.download_rows(db, tenant_id, since, until)


def request_export(
    db: Database, actor: Actor, *, user_id: uuid.UUID, dataset: str,
    tenant_id: uuid.UUID | None, grant_id: uuid.UUID | None,
    since: datetime | None = None, until: datetime | None = None,
) -> Export:  # fmt: skip
    """Ask for an export: the row, its job and the audit event land together."""
    if dataset not in DATASETS:
        raise NotFound(f"No dataset {dataset}.")
    check_range(since, until)
    export = Export(
        id=uuid.uuid4(), dataset=dataset, tenant_id=tenant_id, requested_by=user_id,
        grant_id=grant_id, since=since, until=until, state="queued", created_at=utcnow(),
    )  # fmt: skip
    with db.transaction() as session:
        session.add(export)
        session.flush()
        enqueue(session, "exports.produce", {"export_id": str(export.id)},
                unique_key=f"export:{export.id}")  # fmt: skip
        append_event(
            session, action="export.requested", actor=actor, target_type="export",
            target_id=export.id, tenant_id=tenant_id, data=describe(export),
        )  # fmt: skip
    return export


def _lock(session: Session, export_id: uuid.UUID) -> Export | None:
    return session.scalars(
        select(Export).where(Export.id == export_id).with_for_update()
    ).one_or_none()


def file_of(settings: Settings, export: Export) -> Path:
    return Path(settings.export_dir) / f"{export.id}.csv"


def produce_export(db: Database, settings: Settings, export_id: uuid.UUID) -> str:
    """Write the export's file: streamed row by row under `<id>.csv.partial`, renamed to
    `<id>.csv` only when whole. Run again after a crash, it starts over; a failure leaves
    no file, and the export says why."""
    with db.transaction() as session:
        export = _lock(session, export_id)
        if export is None or export.state not in ("queued", "running"):
            return export.state if export else "gone"
        if export.state == "queued":
            EXPORT.move(export, "running")
        export.started_at = utcnow()
        session.flush()
        session.expunge(export)  # read on, outside the transaction, while the file is written
    source = _rows(db, export.dataset, export.tenant_id, export.since, export.until)
    try:
        written = _write_whole(source, file_of(settings, export))
    except Exception as exc:  # noqa: BLE001 (any failure ends the export, with its reason)
        _finish(db, export_id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
        return "failed"
    keep = timedelta(hours=settings.export_keep_hours)
    _finish(db, export_id, "ready", rows=written.rows, size=written.size,
            sha256=written.sha256, keep=keep)  # fmt: skip
    return "ready"


@dataclass(frozen=True)
class Written:
    rows: int
    size: int
    sha256: str


def _partial(target: Path) -> Path:
    return target.with_name(target.name + ".partial")


def _write_whole(source: Rows, target: Path) -> Written:
    """The CSV streamed to `<target>.partial` and renamed to `target` only when whole: a
    failure half-way (a full disk, a lost database) leaves no file behind."""
    partial = _partial(target)
    try:
        written = _write_csv(source, partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written


def _write_csv(source: Rows, partial: Path) -> Written:
    partial.parent.mkdir(parents=True, exist_ok=True)
    header, rows = source
    digest, count, size = hashlib.sha256(), 0, 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        writer.writerow(header)
        # Written a chunk of rows at a time: one encode and one write per chunk.
        while chunk := list(islice(rows, WRITE_CHUNK)):
            writer.writerows([safe_cell(cell) for cell in row] for row in chunk)
            data = buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            out.write(data)
            digest.update(data)
            size += len(data)
            count += len(chunk)
        data = buffer.getvalue().encode("utf-8")  # the header of an export with no rows
        out.write(data)
        digest.update(data)
        size += len(data)
        out.flush()
        os.fsync(out.fileno())
    return Written(count, size, digest.hexdigest())


def _finish(
    db: Database, export_id: uuid.UUID, state: str, *, error: str | None = None,
    rows: int | None = None, size: int | None = None, sha256: str | None = None,
    keep: timedelta | None = None,
) -> None:  # fmt: skip
    now = utcnow()
    with db.transaction() as session:
        export = _lock(session, export_id)
        if export is None:
            return
        EXPORT.move(export, state)
        export.finished_at, export.error = now, error
        export.rows, export.size_bytes, export.sha256 = rows, size, sha256
        export.expires_at = now + keep if keep else None
        append_event(
            session, action=f"export.{state}", actor=Actor.system("exports"),
            target_type="export", target_id=export.id, tenant_id=export.tenant_id,
            data={**describe(export), "rows": rows, "error": error},
        )  # fmt: skip


def _own(session: Session, export_id: uuid.UUID, user_id: uuid.UUID) -> Export:
    export = session.get(Export, export_id)
    if export is None or export.requested_by != user_id:
        raise NotFound("No export of yours has this id.")
    return export


def get_export(db: Database, export_id: uuid.UUID, user_id: uuid.UUID) -> Export:
    with db.read() as session:
        return _own(session, export_id, user_id)


def list_exports(
    db: Database, user_id: uuid.UUID, *, limit: int, cursor: str | None = None
) -> Page[Export]:
    """Someone's own exports, newest first."""
    query = newest_first(
        select(Export).where(Export.requested_by == user_id), Export.created_at, Export.id,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    with db.read() as session:
        rows = session.scalars(query).all()
    return page_of(rows, limit, lambda row: time_cursor(row.created_at, row.id))


def _still_allowed(session: Session, db: Database, export: Export) -> bool:
    """Whether the person who asked may still take this data out, now."""
    if export.dataset == "audit":
        return identity.platform_role_of(session, export.requested_by) in AUDIT_ROLES
    if export.tenant_id is None:
        return False
    if export.grant_id is not None:
        scope = GrantScope(DATA_CLASS[export.dataset])
        return active_grant_for(db, export.requested_by, export.tenant_id, scope) is not None
    return tenants.is_staff(session, export.tenant_id, export.requested_by)


@dataclass(frozen=True)
class NewLink:
    token: str
    expires_at: datetime


def issue_link(
    db: Database, settings: Settings, export_id: uuid.UUID, user_id: uuid.UUID
) -> NewLink:
    """A short-lived link to one's own ready export, while one may still see its data."""
    now = utcnow()
    with db.transaction() as session:
        export = _own(session, export_id, user_id)
        if export.state != "ready" or (export.expires_at and export.expires_at <= now):
            raise Conflict(f"The export is {export.state}: only a ready one has links.",
                           code="export_not_ready")  # fmt: skip
        if not _still_allowed(session, db, export):
            raise Forbidden("You may no longer take this data out.", code="export_not_allowed")
        token, token_hash = new_token(LINK_PREFIX)
        expires = now + timedelta(seconds=settings.export_link_ttl_seconds)
        session.add(ExportLink(export_id=export.id, token_hash=token_hash, created_at=now,
                               expires_at=expires, max_uses=settings.export_link_uses))  # fmt: skip
    return NewLink(token, expires)


@dataclass(frozen=True)
class Delivery:
    path: Path
    filename: str
    size: int


def open_download(db: Database, settings: Settings, token: str, ip: str | None) -> Delivery:
    """The file a link names, counted and audited; refused (404, or 410 when used up or
    expired) once the link, the export or the right to its data is gone."""
    now = utcnow()
    with db.transaction() as session:
        link = session.scalars(
            select(ExportLink).where(ExportLink.token_hash == hash_token(token)).with_for_update()
        ).one_or_none()
        if link is None:
            raise NotFound("No such download link.")
        export = session.get(Export, link.export_id)
        if export is None or export.state != "ready":
            raise Gone("The export is no longer kept.", code="export_gone")
        if link.expires_at <= now or link.uses >= link.max_uses:
            raise Gone("This link has expired or was used up: ask for a new one.",
                       code="link_expired")  # fmt: skip
        if not _still_allowed(session, db, export):
            raise Forbidden("You may no longer take this data out.", code="export_not_allowed")
        link.uses += 1
        append_event(
            session, action="export.downloaded", actor=Actor.user(str(export.requested_by), None),
            target_type="export", target_id=export.id, tenant_id=export.tenant_id, ip=ip,
            data={**describe(export), "link": str(link.id), "use": link.uses},
        )  # fmt: skip
        stamp = export.created_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
        return Delivery(file_of(settings, export), f"{export.dataset}-{stamp}.csv",
                        export.size_bytes or 0)  # fmt: skip


def write_export(
    db: Database, actor: Actor, *, dataset: str, tenant_id: uuid.UUID | None,
    target: Path, since: datetime | None = None, until: datetime | None = None,
) -> Written:  # fmt: skip
    """An operator's export straight to a file on the host (`darvaza exports write`): the
    same rows and neutralised cells as a job's, never over an existing file, audited
    once the file is whole."""
    if dataset not in DATASETS:
        raise NotFound(f"No dataset {dataset}.")
    if (dataset == "audit") != (tenant_id is None):
        raise InvalidInput("The audit log is the platform's; every other dataset is a tenant's.")
    check_range(since, until)
    if target.exists() or _partial(target).exists():
        raise Conflict(f"{target} exists already: choose a new file.", code="export_file_exists")
    written = _write_whole(_rows(db, dataset, tenant_id, since, until), target)
    with db.transaction() as session:
        append_event(
            session, action="export.written", actor=actor, target_type="export_file",
            target_id=written.sha256, tenant_id=tenant_id,
            data={"file": str(target.resolve()),
                  **describe_period(dataset, tenant_id, since, until),
                  "rows": written.rows, "size": written.size, "sha256": written.sha256},
        )  # fmt: skip
    return written


def all_exports(
    db: Database, *, state: str | None = None, tenant_id: uuid.UUID | None = None,
    limit: int = 50,
) -> list[Export]:  # fmt: skip
    """Every export on the instance, newest first (the operator's view)."""
    query = select(Export).order_by(Export.created_at.desc(), Export.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Export.state == state)
    if tenant_id is not None:
        query = query.where(Export.tenant_id == tenant_id)
    with db.read() as session:
        return list(session.scalars(query).all())


def expire_exports(db: Database, settings: Settings, *, limit: int = 500) -> int:
    """Delete the files of exports past their keeping time; they become expired."""
    now = utcnow()
    with db.transaction() as session:
        due = session.scalars(
            select(Export).where(Export.state == "ready", Export.expires_at <= now)
            .limit(limit).with_for_update()
        ).all()  # fmt: skip
        for export in due:
            file_of(settings, export).unlink(missing_ok=True)
            EXPORT.move(export, "expired")
            append_event(
                session, action="export.expired", actor=Actor.system("exports"),
                target_type="export", target_id=export.id, tenant_id=export.tenant_id,
                data=describe(export),
            )  # fmt: skip
    return len(due)
