"""complaints: public complaints and 12345 referrals (投诉举报), and the public routes' rate counts

Revision ID: 0012_complaints
Revises: 0011_inspections
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0012_complaints"
down_revision = "0011_inspections"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("referral_no", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("named_unit", sa.String(length=200), nullable=False),
        sa.Column("project_id", BIG_ID, nullable=True),
        sa.Column("contact_name", sa.String(length=64), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("first_case_id", BIG_ID, nullable=False),
        sa.Column("merged_at", UTC, nullable=True),
        sa.Column("created_by_id", BIG_ID, nullable=False),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("replied_at", UTC, nullable=True),
        sa.Column("replied_by_id", BIG_ID, nullable=True),
        sa.CheckConstraint("channel IN ('public_web','hotline_12345')", name=op.f("ck_complaints_channel")),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name=op.f("fk_complaints_jurisdiction_code_jurisdictions")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_complaints_project_id_projects")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_complaints_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["first_case_id"], ["cases.id"], name=op.f("fk_complaints_first_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_complaints_created_by_id_users")),
        sa.ForeignKeyConstraint(["replied_by_id"], ["users.id"], name=op.f("fk_complaints_replied_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("referral_no", name=op.f("uq_complaints_referral_no")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_complaints_code_hash")),
    )
    op.create_index("ix_complaints_case_id", "complaints", ["case_id"])
    op.create_index("ix_complaints_jurisdiction_submitted", "complaints", ["jurisdiction_code", "submitted_at"])
    op.create_table(
        "complaint_hits",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_hits")),
    )
    op.create_index("ix_complaint_hits_kind_client_at", "complaint_hits", ["kind", "client_key", "at"])
    op.create_index(op.f("ix_complaint_hits_at"), "complaint_hits", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_complaint_hits_at"), table_name="complaint_hits")
    op.drop_index("ix_complaint_hits_kind_client_at", table_name="complaint_hits")
    op.drop_table("complaint_hits")
    op.drop_index("ix_complaints_jurisdiction_submitted", table_name="complaints")
    op.drop_index("ix_complaints_case_id", table_name="complaints")
    op.drop_table("complaints")
