"""The audit log appended without a shared row: events are queued, a sealer orders them.

Revision ID: 0012
Revises: 0011
Created: 2026-12-02

Until now every audited transaction locked the one chain-head row to take the next
sequence number and hash, so every audited write on the platform waited for the one before
it to commit. From here an event is an insert that touches nothing shared: its id comes
from the table's sequence and a trigger queues it in `audit_pending`. The sealer gives
events their place (`audit_seals`) and signs checkpoints.

Existing events keep their content and get their old sequence number as their id; they
are queued and sealed afresh by the sealer (the old chain's hashes and the checkpoints of
revision 0011 are of the retired format and are dropped; files that revision wrote to the
checkpoint folder, `NNN.json`, are no longer read and can be archived).

Downgrading past this revision would have to rewrite the hash of every event: it is
refused while there are events (restore a backup instead).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Every audit event is re-hashed into the new chain; going back would need the old hashes.
kind: str = "irreversible"

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COLUMNS = (
    "occurred_at, actor_type, actor_id, actor_role, tenant_id, action, target_type, "
    "target_id, ip, request_id, reason, data"
)
APPEND_ONLY = ("audit_events", "audit_seals", "audit_checkpoints")

POSTGRESQL_TRIGGERS = [
    *[
        statement
        for table in APPEND_ONLY
        for statement in (
            f"""
            CREATE TRIGGER {table}_append_only
            BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION darvaza_audit_events_refuse_change()
            """,
            f"""
            CREATE TRIGGER {table}_no_truncate
            BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION darvaza_audit_events_refuse_change()
            """,
        )
    ],
    """
    CREATE FUNCTION darvaza_audit_events_queue() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO audit_pending (event_id) VALUES (NEW.id);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_events_queue
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION darvaza_audit_events_queue()
    """,
]

SQLITE_TRIGGERS = [
    *[
        statement
        for table in APPEND_ONLY
        for statement in (
            f"""
            CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END
            """,
            f"""
            CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END
            """,
        )
    ],
    """
    CREATE TRIGGER audit_events_queue AFTER INSERT ON audit_events
    BEGIN INSERT INTO audit_pending (event_id) VALUES (NEW.id); END
    """,
]


def _event_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=True),
        sa.Column("target_id", sa.String(length=100), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
    ]


def _content_hash() -> sa.Column:  # type: ignore[type-arg]
    # Empty for the events moved here from the retired table: the sealer hashes those.
    return sa.Column("content_hash", sa.String(length=64), nullable=True)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # The old events table goes with its triggers; its rows move to the new one.
    op.rename_table("audit_events", "audit_events_retired")
    if postgresql:
        op.execute("ALTER INDEX pk_audit_events RENAME TO pk_audit_events_retired")
        for name in ("hash", "prev_hash"):
            op.execute(f"ALTER INDEX uq_audit_events_{name} RENAME TO uq_audit_retired_{name}")
    for index in ("action_seq", "actor_id_seq", "occurred_at", "tenant_id_seq"):
        op.drop_index(f"ix_audit_events_{index}", table_name="audit_events_retired")
    op.create_table(
        "audit_events",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        *_event_columns(),
        _content_hash(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"])
    op.create_index("ix_audit_events_actor_id_id", "audit_events", ["actor_id", "id"])
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_tenant_id_id", "audit_events", ["tenant_id", "id"])
    op.create_table(
        "audit_pending",
        sa.Column("event_id", SEQ, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_pending")),
    )
    op.create_table(
        "audit_seals",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("event_id", SEQ, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq > 0", name=op.f("ck_audit_seals_seq_positive")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_events.id"], name=op.f("fk_audit_seals_event_id_audit_events")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_seals_event_id")),
    )
    copy = f"INSERT INTO audit_events (id, {COLUMNS}) SELECT seq, {COLUMNS} "
    op.execute(copy + "FROM audit_events_retired ORDER BY seq")
    op.execute("INSERT INTO audit_pending (event_id) SELECT id FROM audit_events")
    if postgresql:
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), "
            "COALESCE((SELECT MAX(id) FROM audit_events), 0) + 1, false)"
        )
    op.drop_table("audit_events_retired")
    op.drop_table("audit_chain_head")
    if postgresql:
        op.execute("DROP FUNCTION darvaza_audit_chain_head_guard()")
    op.execute("DELETE FROM audit_checkpoints")  # of the retired format; no trigger yet
    # The sealer is no longer a scheduled job but a loop every worker runs.
    op.execute("DELETE FROM job_schedules WHERE name = 'audit.seal'")
    op.execute(
        "UPDATE jobs SET state = 'cancelled', last_error = 'retired: the sealer is a loop now' "
        "WHERE kind = 'audit.seal' AND state = 'queued'"
    )
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if bind.execute(sa.text("SELECT COUNT(*) FROM audit_events")).scalar():
        raise RuntimeError(
            "refusing to downgrade past 0012 with audit events: the old format would need "
            "every event re-hashed; restore a backup taken before the upgrade instead"
        )
    for table in ("audit_seals", "audit_pending", "audit_events"):
        op.drop_table(table)
    if postgresql:
        op.execute("DROP FUNCTION darvaza_audit_events_queue()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_delete")
    if postgresql:
        op.execute("DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints")
        op.execute("DROP TRIGGER audit_checkpoints_no_truncate ON audit_checkpoints")
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", SEQ, nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        *_event_columns(),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq > 0", name=op.f("ck_audit_events_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_events_prev_hash")),
    )
    for index, columns in (
        ("action_seq", ["action", "seq"]),
        ("actor_id_seq", ["actor_id", "seq"]),
        ("occurred_at", ["occurred_at"]),
        ("tenant_id_seq", ["tenant_id", "seq"]),
    ):
        op.create_index(f"ix_audit_events_{index}", "audit_events", columns)
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (1, 0, :genesis)"
        ).bindparams(genesis="0" * 64)
    )
    # Revision 0001's triggers, as it made them (the chain head's guard function was
    # dropped with the head; 0001's statement list makes both functions, so drop the one
    # that survived first).
    first = op.get_context().script.get_revision("0001").module  # type: ignore[union-attr]
    if postgresql:
        op.execute("DROP FUNCTION darvaza_audit_events_refuse_change()")
    for statement in first.POSTGRESQL_TRIGGERS if postgresql else first.SQLITE_TRIGGERS:
        op.execute(statement)
