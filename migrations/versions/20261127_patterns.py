"""patterns: repeat-offender flags with their trail and the scan watermark; published enterprise rankings

Revision ID: 0022_patterns
Revises: 0021_reports
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0022_patterns"
down_revision = "0021_reports"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "repeat_offender_flags",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", BIG_ID, nullable=False),
        sa.Column("pattern", sa.String(length=32), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("trigger_key", sa.String(length=64), nullable=False),
        sa.Column("trigger_case_id", BIG_ID, nullable=False),
        sa.Column("triggered_at", UTC, nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("proposal", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("flagged_at", UTC, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_by_id", BIG_ID, nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        sa.CheckConstraint("status IN ('open','acknowledged','handled')", name=op.f("ck_repeat_offender_flags_status")),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"],
                                name=op.f("fk_repeat_offender_flags_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["trigger_case_id"], ["cases.id"],
                                name=op.f("fk_repeat_offender_flags_trigger_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name=op.f("fk_repeat_offender_flags_jurisdiction_code_jurisdictions")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_repeat_offender_flags_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repeat_offender_flags")),
        sa.UniqueConstraint("enterprise_id", "pattern", "window_days", "trigger_key",
                            name=op.f("uq_repeat_offender_flags_key")),
    )
    op.create_index("ix_repeat_offender_flags_j_status", "repeat_offender_flags", ["jurisdiction_code", "status"])
    op.create_table(
        "repeat_offender_flag_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("flag_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["flag_id"], ["repeat_offender_flags.id"],
                                name=op.f("fk_repeat_offender_flag_events_flag_id_repeat_offender_flags"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_repeat_offender_flag_events_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repeat_offender_flag_events")),
    )
    op.create_index("ix_repeat_offender_flag_events_flag", "repeat_offender_flag_events", ["flag_id"])
    op.create_table(
        "pattern_scan_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scanned_to", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pattern_scan_state")),
    )
    op.create_table(
        "ranking_publications",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("city_code", sa.String(length=12), nullable=False),
        sa.Column("authority_name", sa.String(length=100), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("published_at", UTC, nullable=False),
        sa.Column("published_by_id", BIG_ID, nullable=False),
        sa.Column("score_source", sa.String(length=32), nullable=False),
        sa.Column("stop_work", sa.JSON(), nullable=False),
        sa.Column("credit", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["city_code"], ["jurisdictions.code"],
                                name=op.f("fk_ranking_publications_city_code_jurisdictions")),
        sa.ForeignKeyConstraint(["published_by_id"], ["users.id"],
                                name=op.f("fk_ranking_publications_published_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_publications")),
    )
    op.create_index("ix_ranking_publications_city_at", "ranking_publications", ["city_code", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_ranking_publications_city_at", table_name="ranking_publications")
    op.drop_table("ranking_publications")
    op.drop_table("pattern_scan_state")
    op.drop_index("ix_repeat_offender_flag_events_flag", table_name="repeat_offender_flag_events")
    op.drop_table("repeat_offender_flag_events")
    op.drop_index("ix_repeat_offender_flags_j_status", table_name="repeat_offender_flags")
    op.drop_table("repeat_offender_flags")
