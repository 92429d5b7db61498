"""Appending to and verifying the audit log.

`append_event` joins the caller's transaction: the event lands if and only if the change it
records lands. There is deliberately no function that changes or removes an event.
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
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from darvaza.audit.models import (
    GENESIS_HASH,
    HEAD_ROW_ID,
    AuditChainHead,
    AuditEvent,
)
from darvaza.clock import utcnow
from darvaza.context import current_client_ip, current_request_id
from darvaza.db import Database

REDACTED = "[redacted]"
# Keys whose values are credentials. Matched on the whole key (after `-` becomes `_`) so that
# `token_name` or `password_changed_at` stay readable while `token` or `new_password` never land.
_SECRET_KEY = re.compile(
    r"^(.*_)?(password|passwd|secret|secret_key|token|api_key|apikey|authorization|cookie"
    r"|private_key|merchant_id|otp)$",
    re.IGNORECASE,
)
_VERIFY_BATCH = 1000


class AuditLogError(Exception):
    """The audit log was asked to do something it never does."""


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a user (with the role they acted in), someone not signed in,
    or the system itself (the CLI, the worker)."""

    type: Literal["user", "anonymous", "system"]
    id: str | None = None
    role: str | None = None

    @classmethod
    def user(cls, user_id: str | UUID, role: str | None) -> Actor:
        return cls("user", str(user_id), role)

    @classmethod
    def system(cls, component: str = "system") -> Actor:
        return cls("system", component, None)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous")


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
    """Append one event to the chain inside the caller's transaction.

    The head row is locked first (`FOR UPDATE` on PostgreSQL; SQLite's write transactions
    are already serial), so concurrent appenders queue and each links to the one before.
    IP and request id default to those of the current request.
    """
    head = session.execute(
        select(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ROW_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        raise AuditLogError("the audit chain head is missing: run `darvaza migrate`")
    audit_event = AuditEvent(
        seq=head.last_seq + 1,
        # Taken under the lock, so time order follows sequence order.
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
        prev_hash=head.last_hash,
    )
    audit_event.hash = event_hash(audit_event)
    session.add(audit_event)
    head.last_seq = audit_event.seq
    head.last_hash = audit_event.hash
    # Flush now so a second append in the same transaction sees the advanced head and the
    # head trigger sees one step at a time.
    session.flush()
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


def canonical_content(audit_event: AuditEvent) -> bytes:
    """The exact bytes an event's hash covers: every field but the hash, as sorted JSON."""
    content = {
        "seq": audit_event.seq,
        "occurred_at": audit_event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
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
        "prev_hash": audit_event.prev_hash,
    }
    return canonical_bytes(content)


def canonical_bytes(content: dict[str, Any]) -> bytes:
    """Sorted, compact, UTF-8 JSON: the one encoding event hashes are taken over (a proof's
    checker re-encodes an event the same way)."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(audit_event: AuditEvent) -> str:
    return hashlib.sha256(canonical_content(audit_event)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found. `first_broken_seq` is None when the chain is whole."""

    events_checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None


def verify_chain(db: Database) -> ChainReport:
    """Recompute the whole chain and report the first event that does not fit.

    The head is read first and only events up to it are checked, so events appended while
    verification runs are left for the next run instead of looking like damage.
    """
    with db.read() as session:
        head = session.get(AuditChainHead, HEAD_ROW_ID)
        if head is None:
            return ChainReport(0, 0, GENESIS_HASH, 1, "the audit chain head row is missing")
        expected_seq, previous_hash, checked = 1, GENESIS_HASH, 0
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seq <= head.last_seq)
            .order_by(AuditEvent.seq)
            .execution_options(yield_per=_VERIFY_BATCH)
        )
        for audit_event in rows:
            problem = _problem_with(audit_event, expected_seq, previous_hash)
            if problem is not None:
                return ChainReport(checked, head.last_seq, head.last_hash, expected_seq, problem)
            checked += 1
            expected_seq, previous_hash = audit_event.seq + 1, audit_event.hash
            session.expunge(audit_event)  # keep memory flat on long chains
        if expected_seq - 1 != head.last_seq:
            return ChainReport(
                checked, head.last_seq, head.last_hash, expected_seq,
                f"events {expected_seq}..{head.last_seq} are missing from the end of the chain",
            )  # fmt: skip
        if previous_hash != head.last_hash:
            return ChainReport(
                checked, head.last_seq, head.last_hash, head.last_seq,
                "the chain head's hash does not match the newest event",
            )  # fmt: skip
        return ChainReport(checked, head.last_seq, head.last_hash)


def _problem_with(audit_event: AuditEvent, expected_seq: int, previous_hash: str) -> str | None:
    if audit_event.seq != expected_seq:
        return f"event {expected_seq} is missing (next present is {audit_event.seq})"
    if audit_event.prev_hash != previous_hash:
        return f"event {audit_event.seq} does not link to the event before it"
    if event_hash(audit_event) != audit_event.hash:
        return f"event {audit_event.seq} was changed after it was written"
    return None


# --- No code path changes or removes an event -------------------------------------------


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: UOWTransaction, _instances: object) -> None:
    for obj in session.deleted:
        if isinstance(obj, AuditEvent):
            raise AuditLogError("audit events are never deleted")
    for obj in session.dirty:
        if isinstance(obj, AuditEvent) and session.is_modified(obj):
            raise AuditLogError("audit events are never changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ is AuditEvent:
        raise AuditLogError("audit events are never changed or deleted")


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    tenant_id: str | None = None
    action: str | None = None  # exact, or a prefix when it ends with "." ("auth.")
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    db: Database, where: AuditFilter, *, limit: int, before_seq: int | None
) -> tuple[list[AuditEvent], int | None]:
    """Newest first; returns the page and the sequence number to continue before."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
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
        events = list(session.scalars(query).all())
    more = len(events) > limit
    events = events[:limit]
    return events, (events[-1].seq if more and events else None)
