"""Payments keep the plan's terms they were bought on (period), the gateway's page for the
payer, and when the payer was sent there.

Revision ID: 0008
Revises: 0007
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# A column becomes required (NOT NULL): code from before it would fail to insert a payment.
kind: str = "contract"


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gateway_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(
            sa.Column("sent_to_payer_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Payments made before this revision were bought on their plan's period of today.
    op.execute(
        "UPDATE payments SET period_days = "
        "(SELECT plans.period_days FROM plans WHERE plans.id = payments.plan_id)"
    )
    # Payments made before it never had a go link: count them as having reached their
    # payer, so reconciliation asks the gateway rather than expiring them unasked.
    op.execute(
        "UPDATE payments SET sent_to_payer_at = created_at WHERE gateway_payment_id IS NOT NULL"
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("period_days", existing_type=sa.Integer(), nullable=False)
        batch_op.create_check_constraint(op.f("ck_payments_period_positive"), "period_days > 0")


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_period_positive"), type_="check")
        batch_op.drop_column("sent_to_payer_at")
        batch_op.drop_column("gateway_url")
        batch_op.drop_column("period_days")
