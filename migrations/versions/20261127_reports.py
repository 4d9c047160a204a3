"""report_submissions: a jurisdiction's submitted periodic report (定期报送), frozen figures with
cut-off, policy versions, 文号 and late flag; a correction is a new version (cases/reports/, docs/reports.md)

Revision ID: 0021_reports
Revises: 0020_referrals
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0021_reports"
down_revision = "0020_referrals"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_submissions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("period_key", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cutoff_at", UTC, nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("definitions_version", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("deadline_date", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("late_days", sa.Integer(), nullable=False),
        sa.Column("doc_number", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("submitted_by_id", BIG_ID, nullable=False),
        sa.Column("submitted_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name=op.f("fk_report_submissions_jurisdiction_code_jurisdictions")),
        sa.ForeignKeyConstraint(["submitted_by_id"], ["users.id"],
                                name=op.f("fk_report_submissions_submitted_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_submissions")),
        sa.UniqueConstraint("jurisdiction_code", "period_kind", "period_key", "version",
                            name="uq_report_submissions_period_version"),
        sa.UniqueConstraint("doc_number", name=op.f("uq_report_submissions_doc_number")),
    )
    op.create_index("ix_report_submissions_period", "report_submissions",
                    ["period_kind", "period_key", "jurisdiction_code"])


def downgrade() -> None:
    op.drop_index("ix_report_submissions_period", table_name="report_submissions")
    op.drop_table("report_submissions")
