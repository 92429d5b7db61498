"""Audit tables.

`audit_events` is append-only: events are only ever inserted, each in the transaction of
the change it records, and an insert touches no row but its own (its id comes from the
table's sequence, which never waits on other transactions). An insert trigger also puts
the event's id in `audit_pending`, the sealer's queue.

The sealer (`checkpoints.py`, run continuously by one worker) takes what is pending in
batches, gives each event its place in the log (`audit_seals.seq`, 1, 2, 3, ... without
gaps), the hash of its content and place, and a MAC chained over every seal before it,
and signs a checkpoint of the batch (`audit_checkpoints`). Triggers (migrations 0001 and
0012) refuse UPDATE and DELETE on events, seals and checkpoints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import AppendOnly, Base

HASH_LENGTH = 64
GENESIS_HASH = "0" * HASH_LENGTH

# SQLite only aliases INTEGER PRIMARY KEY to the rowid; BigInteger elsewhere.
SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(AppendOnly, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_id_id", "tenant_id", "id"),
        Index("ix_audit_events_actor_id_id", "actor_id", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
        # Counting one action in a recent window (the ops checks: failed sign-ins).
        Index("ix_audit_events_action_occurred_at", "action", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    # SHA-256 of the fields above, taken by the writer (`service.content_hash`) so the
    # sealer need not read every event in full; `verify` recomputes it. Empty only for
    # events written before revision 0012, which the sealer hashes itself.
    content_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))


class AuditPending(Base):
    """Events committed but not sealed yet: filled by a trigger on `audit_events`, emptied
    by the sealer in the transaction that seals them."""

    __tablename__ = "audit_pending"

    event_id: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=False)


class AuditSeal(AppendOnly, Base):
    """An event's place in the log: `hash` covers its place, its id and its content hash
    (`service.seal_hash`); `mac` is
    HMAC(audit key, previous seal's mac + hash), so no seal can be made, changed or
    removed without the key, which never lives in the database."""

    __tablename__ = "audit_seals"
    __table_args__ = (CheckConstraint("seq > 0", name="seq_positive"),)

    seq: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(
        SequenceNumber, ForeignKey("audit_events.id"), unique=True
    )
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    mac: Mapped[str] = mapped_column(String(HASH_LENGTH))


class AuditCheckpoint(AppendOnly, Base):
    """A signed statement of the seals `first_seq..last_seq`: their Merkle root and the
    newest one's hash, chained to the checkpoint before (see `checkpoints.py`)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (CheckConstraint("last_seq >= first_seq", name="range_ordered"),)

    id: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=True)
    first_seq: Mapped[int] = mapped_column(SequenceNumber, unique=True)
    last_seq: Mapped[int] = mapped_column(SequenceNumber, unique=True)
    body: Mapped[str] = mapped_column(Text)  # the signed JSON, byte for byte
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
