"""Appending to and verifying the audit log.

`append_event` joins the caller's transaction: the event lands if and only if the change it
records lands. There is deliberately no function that changes or removes an event, and
the session refuses to (the tables are `db.AppendOnly`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from darvaza.audit.models import AuditEvent, AuditPending, AuditSeal
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.context import current_client_ip, current_request_id
from darvaza.db import Database
from darvaza.paging import Page, check_range, page_of
from darvaza.security.caller import Actor

if TYPE_CHECKING:
    from darvaza.audit.verify import LogReport, Resume

REDACTED = "[redacted]"
# Keys whose values are credentials. Matched on the whole key (after `-` becomes `_`) so that
# `token_name` or `password_changed_at` stay readable while `token` or `new_password` never land.
_SECRET_KEY = re.compile(
    r"^(.*_)?(password|passwd|secret|secret_key|token|api_key|apikey|authorization|cookie"
    r"|private_key|merchant_id|otp)$",
    re.IGNORECASE,
)


class AuditLogError(Exception):
    """Audit data that cannot be written as JSON (an object, NaN): a bug, never input."""


def append_event(
    session: Session,
    *,
    action: str,
    actor: Actor,
    tenant_id: str | UUID | None = None,
    target_type: str | None = None,
    target_id: str | UUID | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction: it lands if and only if the
    change it records does. The insert touches no shared row, so audited transactions never
    wait on each other; the sealer gives the event its place once it has committed.
    IP and request id default to those of the current request. What a support admin
    does under a support grant names the grant (`data.support_grant_id`)."""
    if actor.grant_id is not None:
        data = {**(data or {}), "support_grant_id": actor.grant_id}
    audit_event = AuditEvent(
        occurred_at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_role=actor.role,
        tenant_id=str(tenant_id) if tenant_id is not None else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ip if ip is not None else current_client_ip(),
        request_id=request_id if request_id is not None else current_request_id(),
        reason=reason,
        data=scrub(data or {}),
    )
    # Hashed here, by each writer, so the one sealer only has to order and chain.
    audit_event.content_hash = content_hash(audit_event)
    session.add(audit_event)
    return audit_event


def scrub(data: dict[str, Any]) -> dict[str, Any]:
    """Make `data` plain JSON, with every credential-named key's value redacted."""
    cleaned = _jsonable(data)
    assert isinstance(cleaned, dict)  # noqa: S101 (a dict in is a dict out)
    return cleaned


def _jsonable(value: Any, key: str | None = None) -> Any:
    if key is not None and _SECRET_KEY.match(key.replace("-", "_")):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): _jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(item) for item in items]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditLogError("audit data cannot hold NaN or infinity")
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return _jsonable(value.value)
    raise AuditLogError(f"audit data cannot hold a {type(value).__name__}")


def canonical_content(audit_event: AuditEvent | Row[Any]) -> bytes:
    """The exact bytes an event's content hash covers: every field the writer gave it, as
    sorted JSON. (Its id and place are the seal's to bind.)"""
    occurred_at = audit_event.occurred_at
    content = {
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": audit_event.actor_type,
        "actor_id": audit_event.actor_id,
        "actor_role": audit_event.actor_role,
        "tenant_id": audit_event.tenant_id,
        "action": audit_event.action,
        "target_type": audit_event.target_type,
        "target_id": audit_event.target_id,
        "ip": audit_event.ip,
        "request_id": audit_event.request_id,
        "reason": audit_event.reason,
        "data": audit_event.data,
    }
    return canonical_bytes(content)


def canonical_bytes(content: dict[str, Any]) -> bytes:
    """Sorted, compact, UTF-8 JSON: the one encoding the log's hashes are taken over (a
    proof's checker re-encodes an event the same way)."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(audit_event: AuditEvent | Row[Any]) -> str:
    return hashlib.sha256(canonical_content(audit_event)).hexdigest()


def seal_hash(seq: int, event_id: int, event_content_hash: str) -> str:
    """What a seal signs for an event: its place, its id and its content hash."""
    bound = {"seq": seq, "id": event_id, "content": event_content_hash}
    return hashlib.sha256(canonical_bytes(bound)).hexdigest()


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    tenant_id: str | None = None
    action: str | None = None  # exact, or a prefix when it ends with "." ("auth.")
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    db: Database, where: AuditFilter, *, limit: int, before_id: int | None
) -> Page[tuple[AuditEvent, AuditSeal | None]]:
    """Newest first, each with its seal (None until sealed)."""
    check_range(where.since, where.until)
    query = (
        select(AuditEvent, AuditSeal)
        .outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .order_by(AuditEvent.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if where.actor_id is not None:
        query = query.where(AuditEvent.actor_id == where.actor_id)
    if where.tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == where.tenant_id)
    if where.action is not None:
        if where.action.endswith("."):
            query = query.where(AuditEvent.action.startswith(where.action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == where.action)
    if where.since is not None:
        query = query.where(AuditEvent.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.occurred_at < where.until)
    with db.read() as session:
        rows: list[tuple[AuditEvent, AuditSeal | None]] = [
            (event, seal) for event, seal in session.execute(query)
        ]
    return page_of(rows, limit, lambda row: str(row[0].id))


def count_actions(db: Database, action: str, *, since: datetime) -> int:
    """How many events of one action happened since then (the ops checks' spikes)."""
    with db.read() as session:
        count = session.scalar(
            select(func.count()).where(AuditEvent.action == action, AuditEvent.occurred_at >= since)
        )
    return int(count or 0)


def newest_event_at(session: Session) -> datetime | None:
    """When the newest audited change happened, as this session sees the log (every
    change is audited, so a restore point's newest change is its newest event)."""
    return session.scalar(select(func.max(AuditEvent.occurred_at)))


def oldest_unsealed(db: Database) -> tuple[int, datetime | None]:
    """How many events wait for their seal, and when the oldest of them happened."""
    with db.read() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(AuditEvent.occurred_at)).join(
                AuditPending, AuditPending.event_id == AuditEvent.id
            )
        ).one()
    return int(count or 0), oldest


def verify_with_settings(
    db: Database, settings: Settings, *, resume: Resume | None = None, restored_copy: bool = False
) -> LogReport:
    """`verify_log` with this deployment's keys, checkpoint folder and allowed delay (what
    `darvaza audit verify` and the console's button run; the ops check, from `resume`)."""
    # Imported here: verifying builds on this module's hashing.
    from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder
    from darvaza.audit.verify import verify_log

    return verify_log(
        db,
        AuditKeys.from_secret(settings.effective_audit_key),
        CheckpointFolder(Path(settings.audit_checkpoint_dir)),
        max_delay_seconds=settings.audit_seal_max_delay_seconds,
        resume=resume,
        restored_copy=restored_copy,
    )
