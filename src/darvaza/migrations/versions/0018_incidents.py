"""Incidents: the incident, its timeline, status updates, mitigation actions, review and
action items.

Revision ID: 0018
Revises: 0017
Created: 2026-12-06

The timeline, the status updates and the mitigation actions are append-only like the
evidence (the PostgreSQL function is 0014's): the story of an incident stays told.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"

APPEND_ONLY = ("incident_events", "incident_updates", "incident_actions")


def _triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION darvaza_refuse_change()"
            for name in APPEND_ONLY
        ]
    return [
        f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
        f"BEGIN SELECT RAISE(ABORT, '{name} is append-only: {verb} refused'); END"
        for name in APPEND_ONLY
        for verb in ("UPDATE", "DELETE")
    ]


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("all_tenants", sa.Boolean(), nullable=False),
        sa.Column("tenant_ids", sa.JSON(), nullable=False),
        sa.Column("commander_id", sa.Uuid(), nullable=False),
        sa.Column("communications_id", sa.Uuid(), nullable=True),
        sa.Column("scribe_id", sa.Uuid(), nullable=True),
        sa.Column("declared_by", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_update_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name=op.f("ck_incidents_severity_known")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'mitigated', 'resolved', 'cancelled', 'reviewed')",
            name=op.f("ck_incidents_status_known"),
        ),
        sa.CheckConstraint(
            "resolved_at IS NULL OR mitigated_at IS NULL OR mitigated_at <= resolved_at",
            name=op.f("ck_incidents_resolution_ordered"),
        ),
        sa.CheckConstraint(
            "started_at <= detected_at AND detected_at <= declared_at",
            name=op.f("ck_incidents_times_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["commander_id"], ["users.id"], name=op.f("fk_incidents_commander_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["communications_id"], ["users.id"], name=op.f("fk_incidents_communications_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["declared_by"], ["users.id"], name=op.f("fk_incidents_declared_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["scribe_id"], ["users.id"], name=op.f("fk_incidents_scribe_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_declared", ["declared_at", "id"], unique=False)
        batch_op.create_index(
            "ix_incidents_status_declared", ["status", "declared_at"], unique=False
        )

    op.create_table(
        "incident_action_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["done_by"], ["users.id"], name=op.f("fk_incident_action_items_done_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_action_items_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_incident_action_items_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_action_items")),
    )
    with op.batch_alter_table("incident_action_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_action_items_open_due", ["done_at", "due_at"], unique=False
        )

    op.create_table(
        "incident_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=True),
        sa.Column("performed_by", sa.Uuid(), nullable=True),
        sa.Column("performed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('rollback', 'restore', 'config_change', 'other')",
            name=op.f("ck_incident_actions_kind_known"),
        ),
        sa.CheckConstraint(
            "result IN ('succeeded', 'partial', 'failed')",
            name=op.f("ck_incident_actions_result_known"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_actions_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["performed_by"], ["users.id"], name=op.f("fk_incident_actions_performed_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_actions")),
    )
    with op.batch_alter_table("incident_actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_actions_incident", ["incident_id", "performed_at"], unique=False
        )

    op.create_table(
        "incident_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.CheckConstraint(
            "kind IN ('declared', 'status', 'severity', 'role', 'details', 'times', 'note', 'update', 'mitigation', 'finding', 'evidence', 'support_grant', 'review', 'action_item')",
            name=op.f("ck_incident_events_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_incident_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
        sa.UniqueConstraint("incident_id", "ref", name="uq_incident_events_incident_id_ref"),
    )
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_events_incident_id_id", ["incident_id", "id"], unique=False
        )

    op.create_table(
        "incident_reviews",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("impact", sa.JSON(), nullable=False),
        sa.Column("impact_notes", sa.Text(), nullable=False),
        sa.Column("timeline_summary", sa.Text(), nullable=False),
        sa.Column("root_causes", sa.Text(), nullable=False),
        sa.Column("went_well", sa.Text(), nullable=False),
        sa.Column("went_badly", sa.Text(), nullable=False),
        sa.Column("written_by", sa.Uuid(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_reviews_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["written_by"], ["users.id"], name=op.f("fk_incident_reviews_written_by_users")
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_reviews")),
    )
    op.create_table(
        "incident_updates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_incident_updates_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_updates_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_updates")),
    )
    with op.batch_alter_table("incident_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_updates_incident", ["incident_id", "posted_at"], unique=False
        )

    for statement in _triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("incident_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_updates_incident")

    op.drop_table("incident_updates")
    op.drop_table("incident_reviews")
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_events_incident_id_id")

    op.drop_table("incident_events")
    with op.batch_alter_table("incident_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_actions_incident")

    op.drop_table("incident_actions")
    with op.batch_alter_table("incident_action_items", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_action_items_open_due")

    op.drop_table("incident_action_items")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_status_declared")
        batch_op.drop_index("ix_incidents_declared")

    op.drop_table("incidents")
