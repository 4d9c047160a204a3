"""Counts of open cases by jurisdiction × kind × light (GET /api/stats/lights), shaped for 1 M cases.

A case's light depends on the time (red once its clock summary ``Case.clock_due_at`` is past, yellow once
``clock_warn_at`` is; migration 0005_clocksum), so the counts cannot all be kept on write. What does not
depend on the time is: the **open cases per (jurisdiction, kind)** are counted on write, as signed rows
of ``case_open_counts`` appended by triggers on ``cases`` (migration 0008_counts) and summed here; only
the minority whose light is not green is counted from index ranges per jurisdiction —

- past warn, ``clock_warn_at <= now`` (``ix_cases_open_j_warn`` (jurisdiction_code, kind, clock_warn_at)
  INCLUDE clock_due_at; on PostgreSQL one LATERAL aggregate per (jurisdiction, kind) group of
  ``case_open_counts``): red when also ``clock_due_at <= now``, else yellow;
- red without a past warn — due before warn, or no warn — from the partial ``ix_cases_open_due_first``
  (normally almost empty: a warn comes before its due);
- none: open without a live clock (the partial ``ix_cases_open_unclocked``),

and green = open − red − yellow − none (a case with a due or warn date has a live clock).

Staff see the cases whose jurisdiction OR origin is in their subtree (cases.ledger.access); the two are read
as disjoint parts: jurisdiction in the subtree (the above), plus the few cases moved up by 提级 whose
origin is in the subtree and whose jurisdiction is not, counted in full from the small partial index
``ix_cases_open_moved``. Everything is one statement; the parts are added up in Python.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, literal_column, or_, select, text, true, union_all
from sqlalchemy.orm import Session


from cases.reads import case_lists
from cases.ledger.access import STAFF_ROLES, subtree_codes
from cases.models import Case, CaseOpenCount, User
from cases.models.core import DUE_FIRST

LIGHTS = ("red", "yellow", "green", "none")

# More signed rows than this beyond one per (jurisdiction, kind): the read asks for a fold.
FOLD_AFTER = 1000
FOLD_DUE = "anjian.open_counts_fold_due"


def _aggregate(stmt, now: datetime):
    """(jurisdiction_code, kind, red, yellow, none, open, 0) of the open cases ``stmt`` selects, counted in full."""
    due, warn = Case.clock_due_at, Case.clock_warn_at
    return (stmt.with_only_columns(
        Case.jurisdiction_code, Case.kind,
        func.count().filter(due <= now),
        func.count().filter(and_(warn <= now, or_(due.is_(None), due > now))),
        func.count().filter(~Case.clock_live),
        func.count(), literal_column("0"))
        .group_by(Case.jurisdiction_code, Case.kind))


def _counted(scope: list, now: datetime, dialect: str) -> list:
    """The parts for the cases whose jurisdiction is in every subquery of ``scope``: open counted on
    write, red / yellow / none from index ranges."""
    zero = literal_column("0")
    in_scope = [CaseOpenCount.jurisdiction_code.in_(codes) for codes in scope]
    opened = (select(CaseOpenCount.jurisdiction_code, CaseOpenCount.kind, zero, zero, zero,
                     func.sum(CaseOpenCount.n), func.count())
              .where(*in_scope).group_by(CaseOpenCount.jurisdiction_code, CaseOpenCount.kind))

    def part(cond, *cols):
        stmt = select(Case.jurisdiction_code, Case.kind, *cols, *[zero] * (5 - len(cols))).where(cond)
        for codes in scope:
            stmt = stmt.where(Case.jurisdiction_code.in_(codes))
        return stmt.group_by(Case.jurisdiction_code, Case.kind)

    due, warn, open_case = Case.clock_due_at, Case.clock_warn_at, Case.closed_at.is_(None)
    red, yellow = func.count().filter(due <= now), func.count().filter(or_(due.is_(None), due > now))
    if dialect == "postgresql":
        # past warn: one aggregate per (jurisdiction, kind) that has open cases — the groups of
        # case_open_counts — over its range of ix_cases_open_j_warn (jurisdiction_code, kind,
        # clock_warn_at): no hash aggregate over the ~75 k entries at 1 M (1.5–2× faster than grouping)
        groups = (select(CaseOpenCount.jurisdiction_code, CaseOpenCount.kind).where(*in_scope).distinct()
                  .subquery("g"))
        counts = (select(red.label("red"), yellow.label("yellow"))
                  .where(Case.jurisdiction_code == groups.c.jurisdiction_code, Case.kind == groups.c.kind,
                         open_case, warn <= now).lateral("w"))
        past_warn = select(groups.c.jurisdiction_code, groups.c.kind, counts.c.red, counts.c.yellow, zero, zero,
                           zero).select_from(groups.join(counts, true()))
    else:
        past_warn = part(and_(open_case, warn <= now), red, yellow)  # SQLite has no LATERAL
    return [opened,
            # past warn: red when also past due, else yellow (ix_cases_open_j_warn)
            past_warn,
            # red, not past warn: due before warn (or no warn) — few (ix_cases_open_due_first)
            part(and_(text(DUE_FIRST), due <= now, or_(warn.is_(None), warn > now)), func.count()),
            # no live clock (ix_cases_open_unclocked)
            part(and_(open_case, ~Case.clock_live), zero, zero, func.count())]


def light_count_rows(session: Session, user: User, now: datetime, *, jurisdiction: str | None = None):
    """[(jurisdiction_code, kind, light, n)] over the open cases ``user`` sees (n > 0 only)."""
    open_case = Case.closed_at.is_(None)
    if user.role in STAFF_ROLES:
        mine = subtree_codes(user.jurisdiction_code)
        scope = [mine] + ([subtree_codes(jurisdiction)] if jurisdiction else [])
        moved = select(Case).where(open_case, Case.origin_jurisdiction_code != Case.jurisdiction_code,  # ix_cases_open_moved
                                   Case.origin_jurisdiction_code.in_(mine), Case.jurisdiction_code.not_in(mine))
        if jurisdiction:
            moved = moved.where(Case.jurisdiction_code.in_(subtree_codes(jurisdiction)))
        stmt = union_all(*_counted(scope, now, session.get_bind().dialect.name), _aggregate(moved, now))
    else:
        stmt = _aggregate(case_lists.case_query(user, jurisdiction=jurisdiction).where(open_case), now)
    return _rows(session, session.execute(stmt))


def _rows(session: Session, result) -> list[tuple[str, str, str, int]]:
    totals: dict[tuple[str, str], list[int]] = {}
    signed_rows = 0
    for code, kind, red, yellow, none, n, rows in result:
        acc = totals.setdefault((code, kind), [0, 0, 0, 0])
        for i, v in enumerate((red, yellow, none, n)):
            acc[i] += v
        signed_rows += rows
    if signed_rows > len(totals) + FOLD_AFTER:
        session.info[FOLD_DUE] = True
    return [(code, kind, light, n) for (code, kind), (red, yellow, none, n) in totals.items()
            for light, n in zip(LIGHTS, (red, yellow, n - red - yellow - none, none)) if n]


def fold_due(session: Session) -> bool:
    """The last ``light_count_rows`` of this session saw enough signed rows to fold."""
    return bool(session.info.pop(FOLD_DUE, False))


def fold_open_counts(session: Session) -> int:
    """Collapse ``case_open_counts`` to one row per (jurisdiction, kind) with a non-zero sum; returns
    the rows removed. Safe beside writers and other folds: on PostgreSQL one statement that re-inserts
    the sums of exactly the rows it deleted (a row another fold deleted first is skipped, a row not yet
    committed is left for the next fold); SQLite has one writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text(
            "WITH gone AS (DELETE FROM case_open_counts RETURNING jurisdiction_code, kind, n),"
            " kept AS (INSERT INTO case_open_counts (jurisdiction_code, kind, n)"
            "  SELECT jurisdiction_code, kind, sum(n) FROM gone GROUP BY jurisdiction_code, kind"
            "  HAVING sum(n) <> 0 RETURNING 1)"
            " SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)")).scalar_one()
    t = CaseOpenCount.__table__
    sums = session.execute(select(t.c.jurisdiction_code, t.c.kind, func.sum(t.c.n), func.count())
                           .group_by(t.c.jurisdiction_code, t.c.kind)).all()
    session.execute(t.delete())
    kept = [{"jurisdiction_code": c, "kind": k, "n": n} for c, k, n, _ in sums if n]
    if kept:
        session.execute(t.insert(), kept)
    return sum(rows for *_, rows in sums) - len(kept)


# ---------------------------------------------------------------- tables of the counts (API and cockpit)


def empty_lights() -> dict[str, int]:
    return dict.fromkeys(LIGHTS, 0)


def light_table(rows, names: dict[str, str]) -> dict:
    """``light_count_rows`` as ``GET /api/stats/lights`` answers it: one item per jurisdiction code
    (sorted) with its counts by kind and light, and the totals by light."""
    table: dict[str, dict] = {}
    totals = empty_lights()
    for code, kind, lt, n in rows:
        row = table.setdefault(code, {"jurisdiction": {"code": code, "name": names.get(code)}, "by_kind": {}})
        row["by_kind"].setdefault(kind, empty_lights())[lt] = n
        totals[lt] += n
    return {"items": sorted(table.values(), key=lambda r: r["jurisdiction"]["code"]), "totals": totals}


def rolled_up(rows, row_of: dict[str, str]) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, int]]]:
    """``light_count_rows`` added up per row of a drill-down table: ``row_of`` maps each jurisdiction
    code of the subtree shown to its row (the child of the root it lies under, or the root itself).
    Returns ({row: {kind: {light: n}}}, {kind: {light: n}} of the codes outside it — visible cases
    moved up by 提级 above the subtree)."""
    table: dict[str, dict[str, dict[str, int]]] = {}
    outside: dict[str, dict[str, int]] = {}
    for code, kind, lt, n in rows:
        row = row_of.get(code)
        target = outside if row is None else table.setdefault(row, {})
        target.setdefault(kind, empty_lights())[lt] += n
    return table, outside
