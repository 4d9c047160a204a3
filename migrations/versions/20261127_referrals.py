"""referrals: a case referred to another body (移送 公安/消防救援/许可证颁发机关/纪检监察), its 移送函 and reply

Revision ID: 0020_referrals
Revises: 0019_interviews
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0020_referrals"
down_revision = "0019_interviews"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("body_name", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("letter_no", sa.String(length=64), nullable=False),
        sa.Column("document_id", BIG_ID, nullable=True),
        sa.Column("deadline_id", BIG_ID, nullable=True),
        sa.Column("reply_due_date", sa.Date(), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("referred_at", UTC, nullable=False),
        sa.Column("referred_by_id", BIG_ID, nullable=False),
        sa.Column("reply_received_at", UTC, nullable=True),
        sa.Column("reply_no", sa.String(length=64), nullable=True),
        sa.Column("reply_result", sa.String(length=16), nullable=True),
        sa.Column("reply_content", sa.Text(), nullable=True),
        sa.Column("reply_recorded_at", UTC, nullable=True),
        sa.Column("reply_recorded_by_id", BIG_ID, nullable=True),
        sa.Column("withdrawn_at", UTC, nullable=True),
        sa.Column("withdrawn_by_id", BIG_ID, nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open','replied','withdrawn')", name=op.f("ck_referrals_status")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"], name=op.f("fk_referrals_jurisdiction_code_jurisdictions")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name=op.f("fk_referrals_document_id_documents")),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadlines.id"], name=op.f("fk_referrals_deadline_id_deadlines")),
        sa.ForeignKeyConstraint(["referred_by_id"], ["users.id"], name=op.f("fk_referrals_referred_by_id_users")),
        sa.ForeignKeyConstraint(["reply_recorded_by_id"], ["users.id"], name=op.f("fk_referrals_reply_recorded_by_id_users")),
        sa.ForeignKeyConstraint(["withdrawn_by_id"], ["users.id"], name=op.f("fk_referrals_withdrawn_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("letter_no", name=op.f("uq_referrals_letter_no")),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"])
    op.create_index("ix_referrals_jurisdiction_status", "referrals", ["jurisdiction_code", "status"])


def downgrade() -> None:
    op.drop_index("ix_referrals_jurisdiction_status", table_name="referrals")
    op.drop_index("ix_referrals_case_id", table_name="referrals")
    op.drop_table("referrals")
