"""Counts of open cases by jurisdiction × kind × light (GET /api/stats/lights), shaped for 1 M cases.

Each case row carries its clock summary (``Case.clock_due_at``, ``clock_warn_at``, ``clock_live``:
migration 0005_clocksum), so the counts never touch ``deadlines``. For staff the visible cases —
jurisdiction in the user's subtree OR origin in it (cases.ledger.access) — are read as two disjoint parts so
that each is an index range instead of a filter over every open case (docs/performance.md "Scale"):

1. jurisdiction in the subtree: ranges of ``ix_cases_open`` (jurisdiction_code, kind) INCLUDE (summary),
   index-only;
2. cases moved up by 提级 whose origin is in the subtree and whose jurisdiction is not (origin ≠
   jurisdiction): the small partial index ``ix_cases_open_moved`` (origin_jurisdiction_code).

For a user whose subtree is every jurisdiction (the province) the parts are one: all open cases,
one ordered index-only scan. Each part is aggregated with ``count(*) FILTER (…)`` per light, and the two are added up in Python.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.ledger.access import STAFF_ROLES, subtree_codes
from cases.models import Case, Jurisdiction, User

LIGHTS = ("red", "yellow", "green", "none")


def _aggregate(stmt, now: datetime):
    """(jurisdiction_code, kind, red, yellow, green, all) of the open cases ``stmt`` selects."""
    due, warn = Case.clock_due_at, Case.clock_warn_at
    not_red = or_(due.is_(None), due > now)
    not_yellow = or_(warn.is_(None), warn > now)
    return (stmt.with_only_columns(
        Case.jurisdiction_code, Case.kind,
        func.count().filter(due <= now),
        func.count().filter(and_(warn <= now, not_red)),
        func.count().filter(and_(Case.clock_live.is_(True), not_red, not_yellow)),
        func.count())
        .group_by(Case.jurisdiction_code, Case.kind))


def light_count_rows(session: Session, user: User, now: datetime, *, jurisdiction: str | None = None):
    """[(jurisdiction_code, kind, light, n)] over the open cases ``user`` sees (n > 0 only)."""
    open_case = Case.closed_at.is_(None)
    if user.role in STAFF_ROLES:
        mine = subtree_codes(user.jurisdiction_code)
        base = select(Case).where(open_case)
        if jurisdiction:
            base = base.where(Case.jurisdiction_code.in_(subtree_codes(jurisdiction)))
        elif not session.scalar(select(Jurisdiction.code).where(Jurisdiction.code.not_in(mine)).limit(1)):
            # The user's subtree is every jurisdiction (the province): every case is visible, and the
            # count is one ordered index-only scan of ix_cases_open without a per-row membership test.
            return _rows(session.execute(_aggregate(base, now)))
        inside = base.where(Case.jurisdiction_code.in_(mine))
        moved = base.where(Case.origin_jurisdiction_code != Case.jurisdiction_code,  # ix_cases_open_moved
                           Case.origin_jurisdiction_code.in_(mine), Case.jurisdiction_code.not_in(mine))
        stmt = union_all(_aggregate(inside, now), _aggregate(moved, now))
    else:
        stmt = _aggregate(services.case_query(user, jurisdiction=jurisdiction).where(open_case), now)
    return _rows(session.execute(stmt))


def _rows(result) -> list[tuple[str, str, str, int]]:
    totals: dict[tuple[str, str], list[int]] = {}
    for code, kind, red, yellow, green, n in result:
        acc = totals.setdefault((code, kind), [0, 0, 0, 0])
        for i, v in enumerate((red, yellow, green, n - red - yellow - green)):
            acc[i] += v
    return [(code, kind, light, n) for (code, kind), acc in totals.items() for light, n in zip(LIGHTS, acc) if n]
