"""inbox_text: an in-app message keeps the subject and text it was delivered with

Revision ID: 0023_inbox_text
Revises: 0022_patterns
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0023_inbox_text"
down_revision = "0022_patterns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("sent_subject", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("sent_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("sent_text")
        batch.drop_column("sent_subject")
