"""interviews: 约谈 records, the units summoned and the commitments made (cases/interviews/,
docs/interviews.md)

Revision ID: 0019_interviews
Revises: 0018_credit
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0019_interviews"
down_revision = "0018_credit"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "interviews",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("notice_document_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scheduled_at", UTC, nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("held_at", UTC, nullable=True),
        sa.Column("held_place", sa.String(length=200), nullable=True),
        sa.Column("hosts", sa.String(length=200), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("record_document_id", BIG_ID, nullable=True),
        sa.Column("created_by_id", BIG_ID, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("recorded_by_id", BIG_ID, nullable=True),
        sa.Column("recorded_at", UTC, nullable=True),
        sa.CheckConstraint("status IN ('scheduled','held','cancelled')", name=op.f("ck_interviews_status")),
        sa.CheckConstraint("source IN ('notice','manual')", name=op.f("ck_interviews_source")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_interviews_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name=op.f("fk_interviews_jurisdiction_code_jurisdictions")),
        sa.ForeignKeyConstraint(["notice_document_id"], ["documents.id"],
                                name=op.f("fk_interviews_notice_document_id_documents")),
        sa.ForeignKeyConstraint(["record_document_id"], ["documents.id"],
                                name=op.f("fk_interviews_record_document_id_documents")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_interviews_created_by_id_users")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["users.id"], name=op.f("fk_interviews_recorded_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interviews")),
        sa.UniqueConstraint("notice_document_id", name=op.f("uq_interviews_notice_document_id")),
    )
    op.create_index("ix_interviews_case_id", "interviews", ["case_id"])
    op.create_index("ix_interviews_jurisdiction_scheduled", "interviews", ["jurisdiction_code", "scheduled_at"])
    op.create_table(
        "interview_units",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("interview_id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", BIG_ID, nullable=True),
        sa.Column("authority_code", sa.String(length=12), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.CheckConstraint("(enterprise_id IS NULL) <> (authority_code IS NULL)", name=op.f("ck_interview_units_one_unit")),
        sa.ForeignKeyConstraint(["interview_id"], ["interviews.id"], name=op.f("fk_interview_units_interview_id_interviews"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name=op.f("fk_interview_units_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["authority_code"], ["jurisdictions.code"],
                                name=op.f("fk_interview_units_authority_code_jurisdictions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interview_units")),
    )
    op.create_index("ix_interview_units_interview_id", "interview_units", ["interview_id"])
    op.create_index("ix_interview_units_enterprise_id", "interview_units", ["enterprise_id"])
    op.create_table(
        "interview_commitments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("interview_id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("responsible_person", sa.String(length=64), nullable=False),
        sa.Column("unit_id", BIG_ID, nullable=False),
        sa.Column("party", sa.String(length=12), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=True),
        sa.Column("deadline_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("missed_at", UTC, nullable=True),
        sa.Column("met_at", UTC, nullable=True),
        sa.Column("met_note", sa.Text(), nullable=True),
        sa.Column("met_by_id", BIG_ID, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint("status IN ('open','met','cancelled')", name=op.f("ck_interview_commitments_status")),
        sa.ForeignKeyConstraint(["interview_id"], ["interviews.id"],
                                name=op.f("fk_interview_commitments_interview_id_interviews"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_interview_commitments_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["interview_units.id"],
                                name=op.f("fk_interview_commitments_unit_id_interview_units")),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadlines.id"], name=op.f("fk_interview_commitments_deadline_id_deadlines")),
        sa.ForeignKeyConstraint(["met_by_id"], ["users.id"], name=op.f("fk_interview_commitments_met_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interview_commitments")),
        sa.UniqueConstraint("deadline_id", name=op.f("uq_interview_commitments_deadline_id")),
    )
    op.create_index("ix_interview_commitments_interview_id", "interview_commitments", ["interview_id"])
    op.create_index("ix_interview_commitments_case_id", "interview_commitments", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_interview_commitments_case_id", table_name="interview_commitments")
    op.drop_index("ix_interview_commitments_interview_id", table_name="interview_commitments")
    op.drop_table("interview_commitments")
    op.drop_index("ix_interview_units_enterprise_id", table_name="interview_units")
    op.drop_index("ix_interview_units_interview_id", table_name="interview_units")
    op.drop_table("interview_units")
    op.drop_index("ix_interviews_jurisdiction_scheduled", table_name="interviews")
    op.drop_index("ix_interviews_case_id", table_name="interviews")
    op.drop_table("interviews")
