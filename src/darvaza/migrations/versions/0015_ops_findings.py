"""Ops findings: what the checks found, its timeline, each check's last run, the alerts
sent about it; indexes for the checks' recent-window counts; tenants made by the smoke
checks are marked.

Revision ID: 0015
Revises: 0014
Created: 2026-12-04

`ops_finding_events` is append-only like the evidence (the PostgreSQL function is
0014's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"


POSTGRESQL_TRIGGERS = [
    """
    CREATE TRIGGER ops_finding_events_append_only BEFORE UPDATE OR DELETE
    ON ops_finding_events FOR EACH ROW EXECUTE FUNCTION darvaza_refuse_change()
    """,
]
SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER ops_finding_events_no_update BEFORE UPDATE ON ops_finding_events
    BEGIN SELECT RAISE(ABORT, 'ops_finding_events is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER ops_finding_events_no_delete BEFORE DELETE ON ops_finding_events
    BEGIN SELECT RAISE(ABORT, 'ops_finding_events is append-only: DELETE refused'); END
    """,
]


def upgrade() -> None:
    op.create_table(
        "ops_check_runs",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ops_check_runs")),
    )
    op.create_table(
        "ops_findings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("recurrences", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("tenants_affected", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=254), nullable=True),
        sa.Column("acknowledged_reason", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low')",
            name=op.f("ck_ops_findings_severity_known"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'acknowledged', 'resolved')",
            name=op.f("ck_ops_findings_state_known"),
        ),
        sa.CheckConstraint(
            "observations >= 1 AND recurrences >= 0", name=op.f("ck_ops_findings_counts_sane")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_findings")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_ops_findings_fingerprint")),
    )
    with op.batch_alter_table("ops_findings", schema=None) as batch_op:
        batch_op.create_index("ix_ops_findings_code_state", ["code", "state"], unique=False)
        batch_op.create_index(
            "ix_ops_findings_state_updated_at", ["state", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_ops_findings_state_severity", ["state", "severity", "first_seen_at"], unique=False
        )

    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("finding_id", sa.Uuid(), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'dead')", name=op.f("ck_alert_notifications_state_known")
        ),
        sa.CheckConstraint(
            "status IN ('firing', 'resolved')", name=op.f("ck_alert_notifications_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["ops_findings.id"],
            name=op.f("fk_alert_notifications_finding_id_ops_findings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    with op.batch_alter_table("alert_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_notifications_finding_route",
            ["finding_id", "route", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_alert_notifications_state_updated_at", ["state", "updated_at"], unique=False
        )

    op.create_table(
        "ops_finding_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("finding_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["ops_findings.id"],
            name=op.f("fk_ops_finding_events_finding_id_ops_findings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_finding_events")),
    )
    with op.batch_alter_table("ops_finding_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ops_finding_events_finding_id_id", ["finding_id", "id"], unique=False
        )

    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_action_occurred_at", ["action", "occurred_at"], unique=False
        )

    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_events_kind_occurred_at", ["kind", "occurred_at"], unique=False
        )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("synthetic", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("synthetic")

    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_events_kind_occurred_at")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_action_occurred_at")

    with op.batch_alter_table("ops_finding_events", schema=None) as batch_op:
        batch_op.drop_index("ix_ops_finding_events_finding_id_id")

    op.drop_table("ops_finding_events")  # its triggers go with it
    with op.batch_alter_table("alert_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_notifications_state_updated_at")
        batch_op.drop_index("ix_alert_notifications_finding_route")

    op.drop_table("alert_notifications")
    with op.batch_alter_table("ops_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_ops_findings_state_severity")
        batch_op.drop_index("ix_ops_findings_state_updated_at")
        batch_op.drop_index("ix_ops_findings_code_state")

    op.drop_table("ops_findings")
    op.drop_table("ops_check_runs")
