"""The calendar generation: bumped by every holiday-notice upload, stamped on every deadline it
computes, so processes can hold the calendar in memory and the sweep can find deadlines computed
with a stale one (docs/legal-time.md "The calendar in memory").

Revision ID: 0006_calendar
Revises: 0005_clocksum
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0006_calendar"
down_revision = "0005_clocksum"
branch_labels = None
depends_on = None

OPEN_CLOCK = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "calendar_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_state")),
    )
    # No row yet: a missing row reads as generation 0 (and a migrated database stays "empty" for
    # a restore); the first upload inserts it (cases.calendar.calendar_store.bump_generation).
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar_gen", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_deadlines_open_calendar_gen", "deadlines", ["calendar_gen"],
                    postgresql_where=OPEN_CLOCK, sqlite_where=OPEN_CLOCK)


def downgrade() -> None:
    op.drop_index("ix_deadlines_open_calendar_gen", table_name="deadlines")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_column("calendar_gen")
    op.drop_table("calendar_state")
