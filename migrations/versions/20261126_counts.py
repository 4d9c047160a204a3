"""Open cases per (jurisdiction, kind) counted on write: ``case_open_counts``, signed rows appended by
triggers on ``cases`` (INSERT, DELETE, UPDATE OF closed_at / jurisdiction_code / kind; SQLite and
PostgreSQL) and summed on read, backfilled here; and the indexes that count the time-dependent
minority — past warn, red before warn, no live clock — per jurisdiction (cases/reads/light_stats.py,
docs/performance.md "Session 11 — counts").

Revision ID: 0008_counts
Revises: 0007_derive
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = "0008_counts"
down_revision = "0007_derive"
branch_labels = None
depends_on = None

OPEN_CASE = sa.text("closed_at IS NULL")
UNCLOCKED = sa.text("closed_at IS NULL AND NOT clock_live")
# Red without a past warn: due before warn, or no warn.
DUE_FIRST = sa.text("closed_at IS NULL AND clock_due_at IS NOT NULL"
                    " AND (clock_warn_at IS NULL OR clock_warn_at > clock_due_at)")

# A case counts in (jurisdiction_code, kind) while closed_at IS NULL. An UPDATE matters only when the
# case opens or closes, or moves (提级, 移交) or changes kind while open.
CHANGED = ("((OLD.closed_at IS NULL) <> (NEW.closed_at IS NULL) OR (NEW.closed_at IS NULL AND"
           " (OLD.jurisdiction_code IS DISTINCT FROM NEW.jurisdiction_code OR OLD.kind IS DISTINCT FROM NEW.kind)))")


def _row(which: str, n: int) -> str:
    return (f"INSERT INTO case_open_counts (jurisdiction_code, kind, n)"
            f" SELECT {which}.jurisdiction_code, {which}.kind, {n} WHERE {which}.closed_at IS NULL")


PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION anjian_cases_open_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Appended, never updated: no transaction waits on another's counter row, none deadlocks on two.
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {_row('OLD', -1)};
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    {_row('NEW', 1)};
  END IF;
  RETURN NULL;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER cases_open_counts_ins AFTER INSERT ON cases FOR EACH ROW WHEN (NEW.closed_at IS NULL)"
    " EXECUTE FUNCTION anjian_cases_open_counts()",
    "CREATE TRIGGER cases_open_counts_del AFTER DELETE ON cases FOR EACH ROW WHEN (OLD.closed_at IS NULL)"
    " EXECUTE FUNCTION anjian_cases_open_counts()",
    "CREATE TRIGGER cases_open_counts_upd AFTER UPDATE OF closed_at, jurisdiction_code, kind ON cases"
    f" FOR EACH ROW WHEN {CHANGED} EXECUTE FUNCTION anjian_cases_open_counts()",
]

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER cases_open_counts_ins AFTER INSERT ON cases WHEN NEW.closed_at IS NULL BEGIN {_row('NEW', 1)}; END",
    f"CREATE TRIGGER cases_open_counts_del AFTER DELETE ON cases WHEN OLD.closed_at IS NULL BEGIN {_row('OLD', -1)}; END",
    f"CREATE TRIGGER cases_open_counts_upd AFTER UPDATE OF closed_at, jurisdiction_code, kind ON cases WHEN {CHANGED}"
    f" BEGIN {_row('OLD', -1)}; {_row('NEW', 1)}; END",
]

TRIGGERS = ("cases_open_counts_ins", "cases_open_counts_del", "cases_open_counts_upd")

BACKFILL = ("INSERT INTO case_open_counts (jurisdiction_code, kind, n) SELECT jurisdiction_code, kind, count(*)"
            " FROM cases WHERE closed_at IS NULL GROUP BY jurisdiction_code, kind")


def upgrade() -> None:
    op.create_table(
        "case_open_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_open_counts")),
    )
    op.create_index("ix_cases_open_j_warn", "cases", ["jurisdiction_code", "kind", "clock_warn_at"],
                    postgresql_where=OPEN_CASE, sqlite_where=OPEN_CASE, postgresql_include=["clock_due_at"])
    op.create_index("ix_cases_open_unclocked", "cases", ["jurisdiction_code", "kind"], postgresql_where=UNCLOCKED,
                    sqlite_where=UNCLOCKED)
    op.create_index("ix_cases_open_due_first", "cases", ["jurisdiction_code", "clock_due_at"], postgresql_where=DUE_FIRST,
                    sqlite_where=DUE_FIRST, postgresql_include=["kind", "clock_warn_at"])
    # The triggers first, then the backfill, in this migration's transaction: on PostgreSQL CREATE
    # TRIGGER locks out writers of cases until it commits, so no case opens or closes in between.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for stmt in PG_TRIGGERS:
            op.execute(stmt)
    else:
        for stmt in SQLITE_TRIGGERS:
            op.execute(stmt)
    op.execute(BACKFILL)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON cases" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS anjian_cases_open_counts()")
    op.drop_index("ix_cases_open_unclocked", table_name="cases")
    op.drop_index("ix_cases_open_j_warn", table_name="cases")
    op.drop_index("ix_cases_open_due_first", table_name="cases")
    op.drop_table("case_open_counts")
