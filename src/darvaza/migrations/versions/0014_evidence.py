"""Evidence of every operational run, append-only.

Revision ID: 0014
Revises: 0013
Created: 2026-12-03

Like the audit log, `evidence` refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) by
trigger: a run's record, once written, is what later decides whether the platform may go
live.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"

KINDS = (
    "smoke", "gate", "config_check", "migration_check", "alert_test", "backup",
    "backup_verify", "restore_drill", "release_dry_run", "rollback", "incident_drill",
)  # fmt: skip
RESULTS = ("passed", "failed", "inconclusive")

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION darvaza_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON evidence
    FOR EACH ROW EXECUTE FUNCTION darvaza_refuse_change()
    """,
    """
    CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
    FOR EACH STATEMENT EXECUTE FUNCTION darvaza_refuse_change()
    """,
]
SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
    BEGIN SELECT RAISE(ABORT, 'evidence is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
    BEGIN SELECT RAISE(ABORT, 'evidence is append-only: DELETE refused'); END
    """,
]


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=True),
        sa.Column("migration_head", sa.String(length=64), nullable=True),
        sa.Column("instance_profile", sa.String(length=16), nullable=False),
        sa.Column("instance_name", sa.String(length=100), nullable=False),
        sa.Column("recorded_by_type", sa.String(length=16), nullable=False),
        sa.Column("recorded_by_id", sa.String(length=64), nullable=True),
        sa.Column("recorded_by_role", sa.String(length=32), nullable=True),
        sa.CheckConstraint(_one_of("kind", KINDS), name=op.f("ck_evidence_kind_known")),
        sa.CheckConstraint(_one_of("result", RESULTS), name=op.f("ck_evidence_result_known")),
        sa.CheckConstraint("finished_at >= started_at", name=op.f("ck_evidence_times_ordered")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    op.create_index(
        "ix_evidence_kind_name_recorded_at", "evidence", ["kind", "name", "recorded_at"]
    )
    op.create_index("ix_evidence_recorded_at_id", "evidence", ["recorded_at", "id"])
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("evidence")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION darvaza_refuse_change()")
