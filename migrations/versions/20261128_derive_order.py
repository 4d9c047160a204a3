"""ix_case_events_derive_due on (id, case_id): the events still to derive, oldest first, from the index alone

The derive process asks, several times a second, whether any event is still to derive and which
cases are, the longest waiting first. With the index on ``case_id`` alone PostgreSQL answered both
with a sequential scan of ``case_events`` whenever its statistics still counted many pending events
(never analysed, or analysed during a backlog): 0.5 ms at 2,300 events, seconds at millions. Ordered
by ``id`` and covered by this index, both are an index-only scan of the pending rows (unless the
statistics were taken when nearly every event was pending: docs/performance.md, session 22). The per-case lookup uses the (case_id, seq) key.

Revision ID: 0024_derive_order
Revises: 0023_inbox_text
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0024_derive_order"
down_revision = "0023_inbox_text"
branch_labels = None
depends_on = None

DUE = sa.text("derive_due IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_case_events_derive_due", table_name="case_events")
    op.create_index("ix_case_events_derive_due", "case_events", ["id", "case_id"], postgresql_where=DUE,
                    sqlite_where=DUE)


def downgrade() -> None:
    op.drop_index("ix_case_events_derive_due", table_name="case_events")
    op.create_index("ix_case_events_derive_due", "case_events", ["case_id"], postgresql_where=DUE, sqlite_where=DUE)
