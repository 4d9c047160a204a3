"""The clock summary's trigger locks its case FOR NO KEY UPDATE (was FOR UPDATE), as the transition does

A transition locks its case ``FOR NO KEY UPDATE`` (cases/ledger/transition_path.py): that excludes
another transition, a sweep or any clock writer of the same case, but not the ``FOR KEY SHARE``
that PostgreSQL takes on the case row for every row inserted with a foreign key to it — the derive
process's documents and messages, held until its batch commits. The clock summary's function
(0005_clocksum) locked the case ``FOR UPDATE``, which conflicts with ``FOR KEY SHARE``: a transition
that opened a deadline waited, inside its own transaction, for a niced derive process to finish a
batch (lock waits sampled at 100 transitions/s, docs/performance.md session 24). ``FOR NO KEY UPDATE``
still makes two clock writers of one case take turns. SQLite has no row locks: nothing changes there.

Revision ID: 0025_clock_lock
Revises: 0024_derive_order
"""
from __future__ import annotations

from alembic import op


revision = "0025_clock_lock"
down_revision = "0024_derive_order"
branch_labels = None
depends_on = None

LIVE = "status = 'open' AND affects_light"


def _function(lock: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION anjian_refresh_case_clocks(cid bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE d timestamptz; w timestamptz; n bigint;
BEGIN
  -- The case row's lock first: two transactions writing clocks of one case take turns here, and the
  -- aggregate below (a new snapshot under READ COMMITTED) then sees the other's committed clocks.
  -- A transition holds this lock already (it locks its case before touching clocks). NO KEY: rows
  -- that merely reference the case (their FOR KEY SHARE) do not hold it up.
  PERFORM 1 FROM cases WHERE id = cid {lock};
  SELECT min(due_at), min(warn_at), count(*) INTO d, w, n FROM deadlines
   WHERE case_id = cid AND {LIVE};
  UPDATE cases SET clock_due_at = d, clock_warn_at = w, clock_live = n > 0
   WHERE id = cid AND (clock_due_at IS DISTINCT FROM d OR clock_warn_at IS DISTINCT FROM w
                       OR clock_live IS DISTINCT FROM (n > 0));
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function("FOR NO KEY UPDATE"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function("FOR UPDATE"))
