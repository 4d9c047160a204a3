"""inspections: checklists, inspection records and their items, campaigns with rounds and the
rungs fired for them, analogous-check tasks; cases.campaign_id and projects.project_kind (issue 11).

Revision ID: 0011_inspections
Revises: 0010_stats
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0011_inspections"
down_revision = "0010_stats"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = cases.models.base.UTCDateTime(timezone=True)


def _fk(col: str, table: str, target: str, **kw) -> sa.ForeignKeyConstraint:
    ref = target.split(".")[0]
    return sa.ForeignKeyConstraint([col], [target], name=op.f(f"fk_{table}_{col}_{ref}"), **kw)


def upgrade() -> None:
    op.create_table(
        "checklists",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("applies_to", sa.String(16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTC, nullable=False),
        sa.Column("loaded_by_id", BIG_ID, nullable=True),
        _fk("loaded_by_id", "checklists", "users.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklists")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_checklists_code_version")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("jurisdiction_code", sa.String(12), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("scope_codes", sa.JSON(), nullable=False),
        sa.Column("project_kinds", sa.JSON(), nullable=False),
        sa.Column("coverage_target", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by_id", BIG_ID, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _fk("jurisdiction_code", "campaigns", "jurisdictions.code"),
        _fk("created_by_id", "campaigns", "users.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_jurisdiction_code"), "campaigns", ["jurisdiction_code"])
    op.create_table(
        "campaign_rounds",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("round_no", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        _fk("campaign_id", "campaign_rounds", "campaigns.id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_rounds")),
        sa.UniqueConstraint("campaign_id", "round_no", name=op.f("uq_campaign_rounds_campaign_id_round_no")),
    )
    op.create_table(
        "campaign_round_firings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("round_id", BIG_ID, nullable=False),
        sa.Column("jurisdiction_code", sa.String(12), nullable=False),
        sa.Column("rung", sa.String(32), nullable=False),
        sa.Column("fired_at", UTC, nullable=False),
        sa.Column("coverage", sa.JSON(), nullable=False),
        sa.Column("document_number", sa.String(64), nullable=True),
        _fk("round_id", "campaign_round_firings", "campaign_rounds.id", ondelete="CASCADE"),
        _fk("jurisdiction_code", "campaign_round_firings", "jurisdictions.code"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_round_firings")),
        sa.UniqueConstraint("round_id", "jurisdiction_code", "rung", name=op.f("uq_campaign_round_firings_round_id_jurisdiction_code_rung")),
    )
    op.create_table(
        "analog_tasks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("source_case_id", BIG_ID, nullable=False),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("jurisdiction_code", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inspection_id", BIG_ID, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("done_at", UTC, nullable=True),
        _fk("source_case_id", "analog_tasks", "cases.id", ondelete="CASCADE"),
        _fk("project_id", "analog_tasks", "projects.id"),
        _fk("jurisdiction_code", "analog_tasks", "jurisdictions.code"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analog_tasks")),
        sa.UniqueConstraint("source_case_id", "project_id", name=op.f("uq_analog_tasks_source_case_id_project_id")),
    )
    op.create_index("ix_analog_tasks_j_status", "analog_tasks", ["jurisdiction_code", "status"])
    op.create_index(op.f("ix_analog_tasks_project_id"), "analog_tasks", ["project_id"])
    op.create_table(
        "inspections",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("number", sa.String(64), nullable=True),
        sa.Column("jurisdiction_code", sa.String(12), nullable=False),
        sa.Column("project_id", BIG_ID, nullable=True),
        sa.Column("building_id", BIG_ID, nullable=True),
        sa.Column("enterprise_id", BIG_ID, nullable=True),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspection_type", sa.String(16), nullable=False),
        sa.Column("unannounced", sa.Boolean(), nullable=False),
        sa.Column("inspectors", sa.JSON(), nullable=False),
        sa.Column("checklist_id", BIG_ID, nullable=True),
        sa.Column("campaign_id", BIG_ID, nullable=True),
        sa.Column("round_no", sa.Integer(), nullable=True),
        sa.Column("analog_task_id", BIG_ID, nullable=True),
        sa.Column("place", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("handling", sa.Text(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_by_id", BIG_ID, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _fk("jurisdiction_code", "inspections", "jurisdictions.code"),
        _fk("project_id", "inspections", "projects.id"),
        _fk("building_id", "inspections", "buildings.id"),
        _fk("enterprise_id", "inspections", "enterprises.id"),
        _fk("checklist_id", "inspections", "checklists.id"),
        _fk("campaign_id", "inspections", "campaigns.id"),
        _fk("analog_task_id", "inspections", "analog_tasks.id"),
        _fk("created_by_id", "inspections", "users.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("number", name=op.f("uq_inspections_number")),
    )
    op.create_index("ix_inspections_j_date", "inspections", ["jurisdiction_code", "inspected_on"])
    op.create_index("ix_inspections_campaign", "inspections", ["campaign_id", "round_no", "project_id"])
    op.create_index(op.f("ix_inspections_project_id"), "inspections", ["project_id"])
    op.create_index(op.f("ix_inspections_building_id"), "inspections", ["building_id"])
    op.create_index(op.f("ix_inspections_enterprise_id"), "inspections", ["enterprise_id"])
    op.create_table(
        "inspection_items",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("inspection_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("major_hazard_item", sa.String(32), nullable=True),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("photo", sa.JSON(), nullable=False),
        sa.Column("case_id", BIG_ID, nullable=True),
        _fk("inspection_id", "inspection_items", "inspections.id", ondelete="CASCADE"),
        _fk("case_id", "inspection_items", "cases.id", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_items")),
        sa.UniqueConstraint("inspection_id", "item_code", name=op.f("uq_inspection_items_inspection_id_item_code")),
    )
    op.create_index(op.f("ix_inspection_items_case_id"), "inspection_items", ["case_id"])

    # New columns on tables with triggers: a plain ADD COLUMN (SQLite's batch mode would rebuild
    # the table and lose its triggers); SQLite takes the reference inline.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE cases ADD COLUMN campaign_id INTEGER"
                   " CONSTRAINT fk_cases_campaign_id_campaigns REFERENCES campaigns (id)")
    else:
        op.add_column("cases", sa.Column("campaign_id", BIG_ID, nullable=True))
        op.create_foreign_key(op.f("fk_cases_campaign_id_campaigns"), "cases", "campaigns", ["campaign_id"], ["id"])
    op.create_index(op.f("ix_cases_campaign_id"), "cases", ["campaign_id"])
    op.add_column("projects", sa.Column("project_kind", sa.String(16), server_default="building", nullable=False))


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_campaign_id"), table_name="cases")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE cases DROP COLUMN campaign_id")
        op.execute("ALTER TABLE projects DROP COLUMN project_kind")
    else:
        op.drop_constraint(op.f("fk_cases_campaign_id_campaigns"), "cases", type_="foreignkey")
        op.drop_column("cases", "campaign_id")
        op.drop_column("projects", "project_kind")
    op.drop_table("inspection_items")
    op.drop_table("inspections")
    op.drop_table("analog_tasks")
    op.drop_table("campaign_round_firings")
    op.drop_table("campaign_rounds")
    op.drop_table("campaigns")
    op.drop_table("checklists")
