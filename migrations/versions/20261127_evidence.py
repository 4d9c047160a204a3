"""evidence: photos and PDFs attached to a case or one of its actions (cases/evidence/)

Revision ID: 0009_evidence
Revises: 0008_counts
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0009_evidence"
down_revision = "0008_counts"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("event_id", BIG_ID, nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("photo_meta", sa.JSON(), nullable=False),
        sa.Column("stored_path", sa.String(length=200), nullable=False),
        sa.Column("display_path", sa.String(length=200), nullable=True),
        sa.Column("thumb_path", sa.String(length=200), nullable=True),
        sa.Column("uploaded_by_id", BIG_ID, nullable=False),
        sa.Column("uploaded_at", cases.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_evidence_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["case_events.id"], name=op.f("fk_evidence_event_id_case_events"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"], name=op.f("fk_evidence_uploaded_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    op.create_index("ix_evidence_case_id_purpose", "evidence", ["case_id", "purpose"])
    op.create_index(op.f("ix_evidence_sha256"), "evidence", ["sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_sha256"), table_name="evidence")
    op.drop_index("ix_evidence_case_id_purpose", table_name="evidence")
    op.drop_table("evidence")
