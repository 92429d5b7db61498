"""Readiness: exemptions of a proof, the evidence kind `audit_export` (an auditor's
bundle written and verified), and an index for an instance's newest evidence.

Revision ID: 0019
Revises: 0018
Created: 2026-12-06

The evidence kinds change as 0016's did (SQLite rebuilds the table). Going down keeps
the wider constraint when `audit_export` evidence exists: evidence is never deleted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"

BEFORE = (
    "smoke", "gate", "config_check", "migration_check", "alert_test", "backup",
    "backup_verify", "restore_drill", "release_dry_run", "rollback", "incident_drill",
    "restore",
)  # fmt: skip
AFTER = (*BEFORE, "audit_export")
NAME = "ck_evidence_kind_known"
SQLITE_TRIGGERS = [
    "CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence "
    "BEGIN SELECT RAISE(ABORT, 'evidence is append-only: UPDATE refused'); END",
    "CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence "
    "BEGIN SELECT RAISE(ABORT, 'evidence is append-only: DELETE refused'); END",
]


def _kinds_are(kinds: Sequence[str]) -> None:
    """As in 0016: a migration is history, so it keeps its own copy."""
    condition = f"kind IN ({', '.join(repr(kind) for kind in kinds)})"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE evidence DROP CONSTRAINT {NAME}")
        op.execute(f"ALTER TABLE evidence ADD CONSTRAINT {NAME} CHECK ({condition})")
        return
    for trigger in ("evidence_no_update", "evidence_no_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    with op.batch_alter_table("evidence", recreate="always") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
        batch.create_check_constraint(op.f(NAME), sa.text(condition))
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "readiness_exemptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proof", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("instance_profile", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by_id", sa.String(length=64), nullable=True),
        sa.Column("granted_by", sa.String(length=320), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=320), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "expires_at > granted_at", name=op.f("ck_readiness_exemptions_expires_after_granted")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_exemptions")),
    )
    op.create_index(
        "ix_readiness_exemptions_proof_granted_at",
        "readiness_exemptions",
        ["proof", "granted_at"],
    )
    _kinds_are(AFTER)
    op.create_index(
        "ix_evidence_instance_kind_name_recorded_at",
        "evidence",
        ["instance_name", "instance_profile", "kind", "name", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_evidence_instance_kind_name_recorded_at", table_name="evidence")
    exports = op.get_bind().execute(
        sa.text("SELECT count(*) FROM evidence WHERE kind = 'audit_export'")
    )
    if exports.scalar_one() == 0:
        _kinds_are(BEFORE)
    op.drop_index("ix_readiness_exemptions_proof_granted_at", table_name="readiness_exemptions")
    op.drop_table("readiness_exemptions")
