"""Evidence of a restore: the kind `restore` joins the evidence's known kinds.

Revision ID: 0016
Revises: 0015
Created: 2026-12-05

SQLite cannot change a CHECK constraint in place: the table is rebuilt (its rows copied
as they are) and its append-only triggers made again. Going down keeps the wider
constraint when `restore` evidence exists: evidence is never deleted, and code of 0015
never writes that kind, so the extra word harms nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"

BEFORE = (
    "smoke", "gate", "config_check", "migration_check", "alert_test", "backup",
    "backup_verify", "restore_drill", "release_dry_run", "rollback", "incident_drill",
)  # fmt: skip
AFTER = (*BEFORE, "restore")
NAME = "ck_evidence_kind_known"
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


def _kinds_are(kinds: Sequence[str]) -> None:
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
    _kinds_are(AFTER)


def downgrade() -> None:
    restores = op.get_bind().execute(
        sa.text("SELECT count(*) FROM evidence WHERE kind = 'restore'")
    )
    if restores.scalar_one() == 0:
        _kinds_are(BEFORE)
