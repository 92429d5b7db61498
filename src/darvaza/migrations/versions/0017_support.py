"""Support: tickets (messages, SLA ledger) and support access grants (history, action
log).

Revision ID: 0017
Revises: 0016
Created: 2026-12-05

Messages, a grant's history and its action log are append-only like the evidence (the
PostgreSQL function is 0014's): a grant's record is kept forever.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"

APPEND_ONLY = ("support_messages", "support_grant_events", "support_grant_actions")


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
        "support_tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("first_response_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "category IN ('billing', 'access', 'content', 'technical', 'other')",
            name=op.f("ck_support_tickets_category_known"),
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')",
            name=op.f("ck_support_tickets_priority_known"),
        ),
        sa.CheckConstraint(
            "state IN ('new', 'open', 'pending', 'solved', 'closed')",
            name=op.f("ck_support_tickets_state_known"),
        ),
        sa.CheckConstraint("tier BETWEEN 1 AND 3", name=op.f("ck_support_tickets_tier_known")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_support_tickets_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_support_tickets_requester_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_support_tickets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_tickets_requester", ["requester_id", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_support_tickets_state_due", ["state", "resolution_due_at"], unique=False
        )
        batch_op.create_index(
            "ix_support_tickets_tenant_updated", ["tenant_id", "updated_at"], unique=False
        )

    op.create_table(
        "support_grants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        sa.Column("access", sa.String(length=8), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decide_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "access IN ('read', 'write')", name=op.f("ck_support_grants_access_known")
        ),
        sa.CheckConstraint(
            "state IN ('requested', 'approved', 'denied', 'expired', 'withdrawn', 'ended', 'revoked')",
            name=op.f("ck_support_grants_state_known"),
        ),
        sa.CheckConstraint(
            "duration_minutes > 0", name=op.f("ck_support_grants_duration_positive")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_support_grants_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_support_grants_requester_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_support_grants_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_support_grants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_grants_ticket_id_support_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_grants")),
    )
    with op.batch_alter_table("support_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_grants_requester_tenant",
            ["requester_id", "tenant_id", "state"],
            unique=False,
        )
        batch_op.create_index("ix_support_grants_state", ["state", "requested_at"], unique=False)
        batch_op.create_index(
            "ix_support_grants_tenant_requested", ["tenant_id", "requested_at"], unique=False
        )

    op.create_table(
        "support_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("author_role", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('reply', 'note')", name=op.f("ck_support_messages_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_support_messages_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_messages_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
    )
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_messages_ticket", ["ticket_id", "created_at"], unique=False
        )

    op.create_table(
        "support_sla_intervals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_support_sla_intervals_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_sla_intervals_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_sla_intervals")),
    )
    with op.batch_alter_table("support_sla_intervals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_sla_intervals_ticket", ["ticket_id", "started_at"], unique=False
        )

    op.create_table(
        "support_grant_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("object_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["support_grants.id"],
            name=op.f("fk_support_grant_actions_grant_id_support_grants"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_support_grant_actions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_support_grant_actions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_grant_actions")),
    )
    with op.batch_alter_table("support_grant_actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_grant_actions_grant", ["grant_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_support_grant_actions_tenant", ["tenant_id", "occurred_at"], unique=False
        )

    op.create_table(
        "support_grant_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_support_grant_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["support_grants.id"],
            name=op.f("fk_support_grant_events_grant_id_support_grants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_grant_events")),
    )
    with op.batch_alter_table("support_grant_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_grant_events_grant", ["grant_id", "occurred_at"], unique=False
        )

    for statement in _triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("support_grant_events", schema=None) as batch_op:
        batch_op.drop_index("ix_support_grant_events_grant")

    op.drop_table("support_grant_events")
    with op.batch_alter_table("support_grant_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_support_grant_actions_tenant")
        batch_op.drop_index("ix_support_grant_actions_grant")

    op.drop_table("support_grant_actions")
    with op.batch_alter_table("support_sla_intervals", schema=None) as batch_op:
        batch_op.drop_index("ix_support_sla_intervals_ticket")

    op.drop_table("support_sla_intervals")
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_support_messages_ticket")

    op.drop_table("support_messages")
    with op.batch_alter_table("support_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_support_grants_tenant_requested")
        batch_op.drop_index("ix_support_grants_state")
        batch_op.drop_index("ix_support_grants_requester_tenant")

    op.drop_table("support_grants")
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_support_tickets_tenant_updated")
        batch_op.drop_index("ix_support_tickets_state_due")
        batch_op.drop_index("ix_support_tickets_requester")

    op.drop_table("support_tickets")
