"""The console: a person's chosen language, and forms already submitted.

Revision ID: 0013
Revises: 0012
Created: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    op.create_table(
        "console_form_uses",
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.id"],
            name=op.f("fk_console_form_uses_credential_id_credentials"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("form_id", name=op.f("pk_console_form_uses")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_console_form_uses_credential_id"), "console_form_uses", ["credential_id"],
        unique=False,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_console_form_uses_credential_id"), table_name="console_form_uses")
    op.drop_table("console_form_uses")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
