"""Each case carries its clock summary: the earliest due_at and warn_at of its live clocks (status
open, affects_light) and whether it has one — kept equal to the deadlines rows by a trigger on
deadlines (INSERT / UPDATE / DELETE, SQLite and PostgreSQL), backfilled here. The light, the next
due date, the overdue list, the queue order and the light counts read these columns
(docs/performance.md "Scale").

Revision ID: 0005_clocksum
Revises: 0004_scale
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0005_clocksum"
down_revision = "0004_scale"
branch_labels = None
depends_on = None

OPEN_CASE = sa.text("closed_at IS NULL")
MOVED = sa.text("closed_at IS NULL AND origin_jurisdiction_code <> jurisdiction_code")
LIVE = "status = 'open' AND affects_light"


def _refresh(case_id: str) -> str:
    """One statement setting a case's summary from its deadlines (SQLite trigger body, backfill)."""
    live = f"FROM deadlines WHERE deadlines.case_id = {case_id} AND deadlines.{LIVE.replace(' AND ', ' AND deadlines.')}"
    return (f"UPDATE cases SET clock_due_at = (SELECT min(due_at) {live}),"
            f" clock_warn_at = (SELECT min(warn_at) {live}),"
            f" clock_live = EXISTS (SELECT 1 {live})"
            f" WHERE cases.id = {case_id}")


PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION anjian_refresh_case_clocks(cid bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE d timestamptz; w timestamptz; n bigint;
BEGIN
  -- The case row's lock first: two transactions writing clocks of one case take turns here, and the
  -- aggregate below (a new snapshot under READ COMMITTED) then sees the other's committed clocks.
  -- A transition holds this lock already (it locks its case before touching clocks).
  PERFORM 1 FROM cases WHERE id = cid FOR UPDATE;
  SELECT min(due_at), min(warn_at), count(*) INTO d, w, n FROM deadlines
   WHERE case_id = cid AND {LIVE};
  UPDATE cases SET clock_due_at = d, clock_warn_at = w, clock_live = n > 0
   WHERE id = cid AND (clock_due_at IS DISTINCT FROM d OR clock_warn_at IS DISTINCT FROM w
                       OR clock_live IS DISTINCT FROM (n > 0));
END $$;

CREATE OR REPLACE FUNCTION anjian_deadlines_clocksum() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM anjian_refresh_case_clocks(OLD.case_id);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.case_id IS DISTINCT FROM OLD.case_id) THEN
    PERFORM anjian_refresh_case_clocks(NEW.case_id);
  END IF;
  RETURN NULL;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER deadlines_clocksum_ins AFTER INSERT ON deadlines"
    " FOR EACH ROW EXECUTE FUNCTION anjian_deadlines_clocksum()",
    "CREATE TRIGGER deadlines_clocksum_del AFTER DELETE ON deadlines"
    " FOR EACH ROW EXECUTE FUNCTION anjian_deadlines_clocksum()",
    "CREATE TRIGGER deadlines_clocksum_upd AFTER UPDATE OF case_id, status, affects_light, due_at, warn_at"
    " ON deadlines FOR EACH ROW WHEN (OLD.case_id IS DISTINCT FROM NEW.case_id OR OLD.status IS DISTINCT FROM NEW.status"
    " OR OLD.affects_light IS DISTINCT FROM NEW.affects_light OR OLD.due_at IS DISTINCT FROM NEW.due_at"
    " OR OLD.warn_at IS DISTINCT FROM NEW.warn_at) EXECUTE FUNCTION anjian_deadlines_clocksum()",
]

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER deadlines_clocksum_ins AFTER INSERT ON deadlines BEGIN {_refresh('NEW.case_id')}; END",
    f"CREATE TRIGGER deadlines_clocksum_del AFTER DELETE ON deadlines BEGIN {_refresh('OLD.case_id')}; END",
    "CREATE TRIGGER deadlines_clocksum_upd AFTER UPDATE OF case_id, status, affects_light, due_at, warn_at ON deadlines"
    f" BEGIN {_refresh('OLD.case_id')}; {_refresh('NEW.case_id')}; END",
]

TRIGGERS = ("deadlines_clocksum_ins", "deadlines_clocksum_del", "deadlines_clocksum_upd")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("clock_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("clock_live", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(_refresh("cases.id") + f" AND cases.id IN (SELECT case_id FROM deadlines WHERE {LIVE})")
    # Open cases by jurisdiction and kind with their summary: the counts of a subtree read ranges of it
    # index-only (replaces 0004's, keyed by id); the few moved up by 提级 are found by their origin.
    op.drop_index("ix_cases_open", table_name="cases")
    op.create_index("ix_cases_open", "cases", ["jurisdiction_code", "kind"], postgresql_where=OPEN_CASE,
                    sqlite_where=OPEN_CASE, postgresql_include=["clock_due_at", "clock_warn_at", "clock_live"])
    op.create_index("ix_cases_open_moved", "cases", ["origin_jurisdiction_code"], postgresql_where=MOVED,
                    sqlite_where=MOVED, postgresql_include=["jurisdiction_code", "kind", "clock_due_at",
                                                            "clock_warn_at", "clock_live"])
    # Open cases by their earliest live due: the overdue list's page is a range of it with LIMIT.
    op.create_index("ix_cases_open_clock_due", "cases", ["clock_due_at", "id"], postgresql_where=OPEN_CASE,
                    sqlite_where=OPEN_CASE, postgresql_include=["jurisdiction_code", "origin_jurisdiction_code", "kind"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        for stmt in PG_TRIGGERS:
            op.execute(stmt)
    else:
        for stmt in SQLITE_TRIGGERS:
            op.execute(stmt)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON deadlines" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS anjian_deadlines_clocksum()")
        op.execute("DROP FUNCTION IF EXISTS anjian_refresh_case_clocks(bigint)")
    op.drop_index("ix_cases_open_clock_due", table_name="cases")
    op.drop_index("ix_cases_open_moved", table_name="cases")
    op.drop_index("ix_cases_open", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("clock_live")
        batch_op.drop_column("clock_warn_at")
        batch_op.drop_column("clock_due_at")
    op.create_index("ix_cases_open", "cases", ["id"], postgresql_where=OPEN_CASE, sqlite_where=OPEN_CASE,
                    postgresql_include=["jurisdiction_code", "origin_jurisdiction_code", "kind"])
