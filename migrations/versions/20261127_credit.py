"""credit: 不良行为记录 (credit records) with their appeal trail, and the blacklist / exposure listings;
the old deductions (enterprise_credit_changes) become records under table version 1

Revision ID: 0018_credit
Revises: 0016_analogs_more
"""
from __future__ import annotations

from datetime import timedelta

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0018_credit"
down_revision = "0016_analogs_more"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credit_records",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", BIG_ID, nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=96), nullable=False),
        sa.Column("table_version", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=16), nullable=False),
        sa.Column("item_label", sa.String(length=100), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("original_points", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("case_id", BIG_ID, nullable=True),
        sa.Column("document_id", BIG_ID, nullable=True),
        sa.Column("document_number", sa.String(length=64), nullable=True),
        sa.Column("authority_code", sa.String(length=12), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("recorded_by_id", BIG_ID, nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint("status IN ('active','appealed','withdrawn','expired')", name=op.f("ck_credit_records_status")),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name=op.f("fk_credit_records_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_credit_records_case_id_cases")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name=op.f("fk_credit_records_document_id_documents")),
        sa.ForeignKeyConstraint(["authority_code"], ["jurisdictions.code"],
                                name=op.f("fk_credit_records_authority_code_jurisdictions")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["users.id"], name=op.f("fk_credit_records_recorded_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_records")),
        sa.UniqueConstraint("source_key", name=op.f("uq_credit_records_source_key")),
    )
    op.create_index(op.f("ix_credit_records_case_id"), "credit_records", ["case_id"])
    op.create_index("ix_credit_records_enterprise_status", "credit_records", ["enterprise_id", "status"])
    op.create_index("ix_credit_records_status_valid_until", "credit_records", ["status", "valid_until"])
    op.create_table(
        "credit_record_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("record_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("points_before", sa.Integer(), nullable=True),
        sa.Column("points_after", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["credit_records.id"], name=op.f("fk_credit_record_events_record_id_credit_records"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_credit_record_events_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_record_events")),
    )
    op.create_index(op.f("ix_credit_record_events_record_id"), "credit_record_events", ["record_id"])
    op.create_table(
        "credit_listings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", BIG_ID, nullable=False),
        sa.Column("list", sa.String(length=16), nullable=False),
        sa.Column("active_key", sa.String(length=48), nullable=True),
        sa.Column("table_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("authority_code", sa.String(length=12), nullable=False),
        sa.Column("listed_at", UTC, nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("lifted_at", UTC, nullable=True),
        sa.Column("lifted_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("list IN ('blacklist','exposure')", name=op.f("ck_credit_listings_list")),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name=op.f("fk_credit_listings_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["authority_code"], ["jurisdictions.code"],
                                name=op.f("fk_credit_listings_authority_code_jurisdictions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_listings")),
        sa.UniqueConstraint("active_key", name=op.f("uq_credit_listings_active_key")),
    )
    op.create_index(op.f("ix_credit_listings_enterprise_id"), "credit_listings", ["enterprise_id"])
    op.create_index("ix_credit_listings_list_lifted", "credit_listings", ["list", "lifted_at"])
    _carry_over_deductions()


def _carry_over_deductions() -> None:
    """The major-hazard deductions made before the records existed become records under table
    version 1 (item XY-01, their own points, the table's 180 days of validity from the day they were made), so
    the score derived from the records equals the score the enterprises had."""
    from cases.platform.clock import to_local

    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT d.id, d.enterprise_id, d.case_id, d.delta, d.reason, d.at, c.jurisdiction_code, e.jurisdiction_code "
        "FROM enterprise_credit_changes d JOIN enterprises e ON e.id = d.enterprise_id "
        "LEFT JOIN cases c ON c.id = d.case_id ORDER BY d.id").columns(at=UTC)).all()
    records = sa.table("credit_records", *(sa.column(n) for n in (
        "enterprise_id", "cause", "source_key", "table_version", "item_code", "item_label", "points", "original_points",
        "summary", "case_id", "authority_code", "recorded_at", "valid_from", "valid_until", "status")))
    for rid, enterprise_id, case_id, delta, reason, at, case_code, ent_code in rows:
        day = to_local(at).date()
        conn.execute(records.insert().values(
            enterprise_id=enterprise_id, cause="major_hazard",
            source_key=f"major_hazard:{case_id}" if case_id else f"legacy:{rid}", table_version=1, item_code="XY-01",
            item_label="存在重大事故隐患被责令停工、挂牌督办", points=-int(delta), original_points=-int(delta),
            summary=reason, case_id=case_id, authority_code=case_code or ent_code, recorded_at=at, valid_from=day,
            valid_until=day + timedelta(days=180), status="active"))


def downgrade() -> None:
    op.drop_index("ix_credit_listings_list_lifted", table_name="credit_listings")
    op.drop_index(op.f("ix_credit_listings_enterprise_id"), table_name="credit_listings")
    op.drop_table("credit_listings")
    op.drop_index(op.f("ix_credit_record_events_record_id"), table_name="credit_record_events")
    op.drop_table("credit_record_events")
    op.drop_index("ix_credit_records_status_valid_until", table_name="credit_records")
    op.drop_index("ix_credit_records_enterprise_status", table_name="credit_records")
    op.drop_index(op.f("ix_credit_records_case_id"), table_name="credit_records")
    op.drop_table("credit_records")
