"""Operations' tables: the evidence of every operational run.

`evidence` is append-only, like the audit log: a run's record is written once and never
changed (`db.AppendOnly`, and triggers in migration 0014). Whether the platform may go live
is worked out from these rows, so a later run never edits an earlier one's verdict; it
adds its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import CheckConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import AppendOnly, Base

# Every kind of operational run, including those later tools record (backups, drills,
# releases): a kind outside this list is refused, so a typo never becomes a new kind.
EvidenceKind = Literal[
    "smoke",
    "gate",
    "config_check",
    "migration_check",
    "alert_test",
    "backup",
    "backup_verify",
    "restore_drill",
    "release_dry_run",
    "rollback",
    "incident_drill",
    "restore",
    "audit_export",
]
EvidenceResult = Literal["passed", "failed", "inconclusive"]
EVIDENCE_KINDS: tuple[str, ...] = get_args(EvidenceKind)
EVIDENCE_RESULTS: tuple[str, ...] = get_args(EvidenceResult)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Evidence(AppendOnly, Base):
    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint(_one_of("kind", EVIDENCE_KINDS), name="kind_known"),
        CheckConstraint(_one_of("result", EVIDENCE_RESULTS), name="result_known"),
        CheckConstraint("finished_at >= started_at", name="times_ordered"),
        # The newest run of a kind and name (readiness, the backup checks), and lists
        # newest first.
        Index("ix_evidence_kind_name_recorded_at", "kind", "name", "recorded_at"),
        Index("ix_evidence_recorded_at_id", "recorded_at", "id"),
        # Readiness: the newest record of a kind and name from one instance, found at once
        # however many other instances share the table.
        Index(
            "ix_evidence_instance_kind_name_recorded_at",
            "instance_name",
            "instance_profile",
            "kind",
            "name",
            "recorded_at",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    # What ran, and where: the build, the schema, the instance.
    version: Mapped[str] = mapped_column(String(50))
    revision: Mapped[str | None] = mapped_column(String(64))
    migration_head: Mapped[str | None] = mapped_column(String(64))
    instance_profile: Mapped[str] = mapped_column(String(16))
    instance_name: Mapped[str] = mapped_column(String(100))
    # Who recorded it, as the audit log names an actor.
    recorded_by_type: Mapped[str] = mapped_column(String(16))
    recorded_by_id: Mapped[str | None] = mapped_column(String(64))
    recorded_by_role: Mapped[str | None] = mapped_column(String(32))
