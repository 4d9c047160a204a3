"""Partial indexes for the light reads at scale (docs/performance.md "Scale", bench/scale.py):
open cases, and live clocks by case and by due time.

Revision ID: 0004_scale
Revises: 0004_heartbeat
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0004_scale"
down_revision = "0004_heartbeat"
branch_labels = None
depends_on = None

OPEN_CASE = sa.text("closed_at IS NULL")
LIVE_CLOCK = sa.text("status = 'open' AND affects_light")


def upgrade() -> None:
    op.create_index("ix_cases_open", "cases", ["id"], postgresql_where=OPEN_CASE, sqlite_where=OPEN_CASE,
                    postgresql_include=["jurisdiction_code", "origin_jurisdiction_code", "kind"])
    op.create_index("ix_deadlines_live_case", "deadlines", ["case_id"], postgresql_where=LIVE_CLOCK,
                    sqlite_where=LIVE_CLOCK, postgresql_include=["due_at", "warn_at"])
    op.create_index("ix_deadlines_live_due", "deadlines", ["due_at"], postgresql_where=LIVE_CLOCK,
                    sqlite_where=LIVE_CLOCK, postgresql_include=["case_id"])


def downgrade() -> None:
    op.drop_index("ix_deadlines_live_due", table_name="deadlines")
    op.drop_index("ix_deadlines_live_case", table_name="deadlines")
    op.drop_index("ix_cases_open", table_name="cases")
