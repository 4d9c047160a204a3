"""case_events.derive_due: documents derived after commit (cases/issuance/derive.py), pending ones indexed

Revision ID: 0007_derive
Revises: 0006_calendar
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0007_derive"
down_revision = "0006_calendar"
branch_labels = None
depends_on = None

DUE = sa.text("derive_due IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("derive_due", sa.Boolean(), nullable=True))
    op.create_index("ix_case_events_derive_due", "case_events", ["case_id"], postgresql_where=DUE, sqlite_where=DUE)


def downgrade() -> None:
    op.drop_index("ix_case_events_derive_due", table_name="case_events")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("derive_due")
