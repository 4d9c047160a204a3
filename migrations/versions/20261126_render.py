"""documents: render attempts and next render instant (transient render errors retried with backoff)

Revision ID: 0002_render
Revises: 0001
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0002_render"
down_revision = "0002_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("render_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_render_at", cases.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("next_render_at")
        batch_op.drop_column("render_attempts")
