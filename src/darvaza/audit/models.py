"""Audit tables.

`audit_events` is append-only: events are only ever inserted. Each stores the hash of the
event before it (`prev_hash`) and its own hash over its canonical content, so an edited,
removed or reordered event breaks the chain where it happened. `prev_hash` is unique, so
the database itself refuses a fork (two events claiming the same predecessor).

`audit_chain_head` is a single row holding the newest sequence number and hash. Appenders
lock it to serialise the chain, and verification uses it to notice events cut from the
tail. Database triggers (see the first migration) refuse UPDATE and DELETE on events and
any change to the head other than advancing it by one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import Base

HASH_LENGTH = 64
GENESIS_HASH = "0" * HASH_LENGTH
HEAD_ROW_ID = 1

# SQLite only aliases INTEGER PRIMARY KEY to the rowid; BigInteger elsewhere.
SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("seq > 0", name="seq_positive"),
        Index("ix_audit_events_tenant_id_seq", "tenant_id", "seq"),
        Index("ix_audit_events_actor_id_seq", "actor_id", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=False)
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
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)


class AuditChainHead(Base):
    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ROW_ID}", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(SequenceNumber)
    last_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class AuditCheckpoint(Base):
    """A signed statement of the events `first_seq..last_seq`: their Merkle root and the
    newest one's hash, chained to the checkpoint before (see `checkpoints.py`)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (CheckConstraint("last_seq >= first_seq", name="range_ordered"),)

    id: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=True)
    first_seq: Mapped[int] = mapped_column(SequenceNumber, unique=True)
    last_seq: Mapped[int] = mapped_column(SequenceNumber, unique=True)
    body: Mapped[str] = mapped_column(Text)  # the signed JSON, byte for byte
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
