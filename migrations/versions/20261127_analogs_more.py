"""analog_tasks: trigger, rank and basis of a proposal, the reminder instant, when the reminder and
the overdue notice went out, a supervisor's cancellation (cases/analogs/, docs/analogs.md); the
sweep's two partial indexes.

Revision ID: 0016_analogs_more
Revises: 0017_deadline_j
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0016_analogs_more"
down_revision = "0017_deadline_j"
branch_labels = None
depends_on = None

UTC = cases.models.base.UTCDateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REMIND = sa.text("status = 'open' AND reminded_at IS NULL")
DUE = sa.text("status = 'open' AND overdue_notified_at IS NULL")


def upgrade() -> None:
    op.add_column("analog_tasks", sa.Column("trigger", sa.String(32), nullable=True))
    op.add_column("analog_tasks", sa.Column("rank", sa.Integer(), server_default="0", nullable=False))
    op.add_column("analog_tasks", sa.Column("basis", sa.JSON(), nullable=True))
    for name in ("remind_at", "reminded_at", "overdue_notified_at", "cancelled_at"):
        op.add_column("analog_tasks", sa.Column(name, UTC, nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # SQLite takes the reference inline
        op.execute("ALTER TABLE analog_tasks ADD COLUMN cancelled_by_id INTEGER"
                   " CONSTRAINT fk_analog_tasks_cancelled_by_id_users REFERENCES users (id)")
    else:
        op.add_column("analog_tasks", sa.Column("cancelled_by_id", BIG_ID, nullable=True))
        op.create_foreign_key(op.f("fk_analog_tasks_cancelled_by_id_users"), "analog_tasks", "users",
                              ["cancelled_by_id"], ["id"])
    op.add_column("analog_tasks", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.create_index("ix_analog_tasks_open_remind", "analog_tasks", ["remind_at"], postgresql_where=REMIND,
                    sqlite_where=REMIND)
    op.create_index("ix_analog_tasks_open_due", "analog_tasks", ["due_on"], postgresql_where=DUE, sqlite_where=DUE)


def downgrade() -> None:
    op.drop_index("ix_analog_tasks_open_due", table_name="analog_tasks")
    op.drop_index("ix_analog_tasks_open_remind", table_name="analog_tasks")
    with op.batch_alter_table("analog_tasks") as batch:  # SQLite: rebuilt (the table has no triggers)
        if op.get_bind().dialect.name != "sqlite":
            batch.drop_constraint(op.f("fk_analog_tasks_cancelled_by_id_users"), type_="foreignkey")
        for name in ("cancel_reason", "cancelled_by_id", "cancelled_at", "overdue_notified_at", "reminded_at",
                     "remind_at", "basis", "rank", "trigger"):
            batch.drop_column(name)
