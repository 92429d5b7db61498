"""Download links count the bytes they served: a link's uses are downloads, not requests.

Revision ID: 0009
Revises: 0008
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind: str = "expand"


def upgrade() -> None:
    with op.batch_alter_table("download_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bytes_served", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("download_tokens", schema=None) as batch_op:
        batch_op.drop_column("bytes_served")
