"""Each deadline carries its case's current jurisdiction (``deadlines.jurisdiction_code``), kept by
triggers — set when a deadline is inserted, rewritten for a case's deadlines when the case's
jurisdiction changes (提级) — and backfilled here, with two indexes per jurisdiction for the cockpit's
按期整改率 and overdue trend (docs/performance.md "Pages at 1 M cases (issue 10)").

Revision ID: 0017_deadline_j
Revises: 0012_complaints
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0017_deadline_j"
down_revision = "0012_complaints"
branch_labels = None
depends_on = None

RECTIFICATION = sa.text("key = 'rectification'")
LIGHT = sa.text("affects_light")
CASE_J = "(SELECT cases.jurisdiction_code FROM cases WHERE cases.id = {})"

PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION anjian_deadline_j_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.jurisdiction_code := {CASE_J.format('NEW.case_id')};
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION anjian_case_j_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE deadlines SET jurisdiction_code = NEW.jurisdiction_code WHERE case_id = NEW.id;
  RETURN NULL;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER deadlines_j_ins BEFORE INSERT OR UPDATE OF case_id ON deadlines"
    " FOR EACH ROW EXECUTE FUNCTION anjian_deadline_j_ins()",
    "CREATE TRIGGER cases_j_moved AFTER UPDATE OF jurisdiction_code ON cases FOR EACH ROW"
    " WHEN (OLD.jurisdiction_code IS DISTINCT FROM NEW.jurisdiction_code) EXECUTE FUNCTION anjian_case_j_moved()",
]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER deadlines_j_ins AFTER INSERT ON deadlines BEGIN"
    f" UPDATE deadlines SET jurisdiction_code = {CASE_J.format('NEW.case_id')} WHERE id = NEW.id; END",
    "CREATE TRIGGER deadlines_j_upd AFTER UPDATE OF case_id ON deadlines BEGIN"
    f" UPDATE deadlines SET jurisdiction_code = {CASE_J.format('NEW.case_id')} WHERE id = NEW.id; END",
    "CREATE TRIGGER cases_j_moved AFTER UPDATE OF jurisdiction_code ON cases"
    " WHEN OLD.jurisdiction_code IS NOT NEW.jurisdiction_code BEGIN"
    " UPDATE deadlines SET jurisdiction_code = NEW.jurisdiction_code WHERE case_id = NEW.id; END",
]


def upgrade() -> None:
    op.add_column("deadlines", sa.Column("jurisdiction_code", sa.String(length=12), nullable=True))
    op.execute("UPDATE deadlines SET jurisdiction_code = " + CASE_J.format("deadlines.case_id"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.create_index("ix_deadlines_j_rect_due", "deadlines", ["jurisdiction_code", "due_date"],
                    postgresql_where=RECTIFICATION, sqlite_where=RECTIFICATION,
                    postgresql_include=["case_id", "status", "due_at", "closed_at"])
    op.create_index("ix_deadlines_j_light_due", "deadlines", ["jurisdiction_code", "due_at"],
                    postgresql_where=LIGHT, sqlite_where=LIGHT, postgresql_include=["case_id", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_deadlines_j_light_due", table_name="deadlines")
    op.drop_index("ix_deadlines_j_rect_due", table_name="deadlines")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS cases_j_moved ON cases")
        op.execute("DROP TRIGGER IF EXISTS deadlines_j_ins ON deadlines")
        op.execute("DROP FUNCTION IF EXISTS anjian_case_j_moved()")
        op.execute("DROP FUNCTION IF EXISTS anjian_deadline_j_ins()")
    else:
        for name in ("cases_j_moved", "deadlines_j_upd", "deadlines_j_ins"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_column("deadlines", "jurisdiction_code")
