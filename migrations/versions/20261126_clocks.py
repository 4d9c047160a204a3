"""deadlines.party: whose clock a deadline is (enterprise / officer / approver / authority)

Revision ID: 0002_clocks
Revises: 0001
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0002_clocks"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("party", sa.String(length=16), server_default="enterprise", nullable=False))
    # Existing rows: a listing's clock is the supervised authority's; the authority's own clocks
    # (re-inspection, review, accident and building clocks, tasks) are the officer's.
    op.execute("UPDATE deadlines SET party = 'authority' WHERE supervision_id IS NOT NULL")
    op.execute("UPDATE deadlines SET party = 'officer' WHERE supervision_id IS NULL AND ladder <> 'rectification'")
    op.execute("UPDATE deadlines SET party = 'officer' WHERE key = 'investigation'")


def downgrade() -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_column("party")
