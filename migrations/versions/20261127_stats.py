"""Indexes for the cockpit's ranking and trend and for the ledger's first page at 1 M cases
(docs/performance.md "Pages at 1 M cases (issue 10)"): cases by jurisdiction and found / closed
time, cases by registration time, rectification clocks by due date and light-bearing clocks by
due instant.

Revision ID: 0010_stats
Revises: 0009_evidence
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0010_stats"
down_revision = "0009_evidence"
branch_labels = None
depends_on = None

CLOSED = sa.text("closed_at IS NOT NULL")
RECTIFICATION = sa.text("key = 'rectification'")
LIGHT = sa.text("affects_light")


def upgrade() -> None:
    op.create_index("ix_cases_j_found", "cases", ["jurisdiction_code", "found_at"], postgresql_include=["id"])
    op.create_index("ix_cases_j_closed", "cases", ["jurisdiction_code", "closed_at"], postgresql_where=CLOSED,
                    sqlite_where=CLOSED, postgresql_include=["found_at"])
    op.create_index("ix_cases_created", "cases", ["created_at", "id"])
    op.create_index("ix_deadlines_rect_due", "deadlines", ["due_date"], postgresql_where=RECTIFICATION,
                    sqlite_where=RECTIFICATION, postgresql_include=["case_id", "status", "due_at", "closed_at"])
    op.create_index("ix_deadlines_light_due", "deadlines", ["due_at"], postgresql_where=LIGHT, sqlite_where=LIGHT,
                    postgresql_include=["case_id", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_deadlines_light_due", table_name="deadlines")
    op.drop_index("ix_deadlines_rect_due", table_name="deadlines")
    op.drop_index("ix_cases_created", table_name="cases")
    op.drop_index("ix_cases_j_closed", table_name="cases")
    op.drop_index("ix_cases_j_found", table_name="cases")
