"""The cockpit's figures over a jurisdiction's subtree: the drill-down rows, the 按期整改率 and the
average working days to close per district, the 12-month trend and the escalation log.

Every figure counts the cases whose current jurisdiction (``cases.jurisdiction_code``) lies in the
subtree shown — exactly what a case list filtered by ``jurisdiction=<code>`` selects — so a figure
and the ledger list it links to agree. Each query is one set-wise statement (no query per row);
dates are legal dates in Beijing time (``case_lists.day_start``). docs/cockpit.md says how each
figure is computed.

- **按期整改率** (on-time rectification rate) over a period [from, to] of legal dates, counted in
  cases: due = the cases with a rectification clock (deadline key ``rectification``: 整改期限,
  治理期限) whose due date (``deadlines.due_date``, after extensions and pauses) lies in the period,
  that was neither cancelled (the case ended otherwise) nor superseded, and that is decided: met, or
  past its due instant. On time = the due cases whose every such clock (a failed re-inspection or a
  reopening starts a new round) was met (the unit reported completion, or the case was verified) no
  later than its due instant; late = the others. Rate = on time ÷ due.
- **平均办结用时**: over the cases closed in the period (``closed_at`` on a day of it), the
  working days from the day the case was found (``found_at``) to the day it was closed: the
  working days after the found day up to and including the closed day, by the legal calendar
  (holidays and 调休 included) — found and closed the same day is 0.
- **Trend**, per calendar month (Beijing time): opened = cases found in the month (``found_at``),
  closed = cases closed in the month (``closed_at``), overdue = cases with a clock that lights the
  case (``affects_light``) falling due in the month (up to now) without having been completed by
  its due instant (still open then: met late, missed, cancelled or superseded later, or still open).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from cases.ledger.access import STAFF_ROLES, in_subtree, subtree_codes, visible_cases_clause
from cases.reads.case_lists import day_start
from cases.models import Case, Deadline, Jurisdiction, RungFiring, User

RECTIFICATION_KEY = "rectification"
# The rungs that are measures against a late party (not reminders): the escalation log shows these
# (hand_over: a self-found hazard left overdue becomes the regulator's case, docs/self-inspection.md).
MEASURE_RUNGS = ("overdue", "listing", "interview", "criticism", "escalate", "supervise", "hand_over")


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    parent_code: str | None
    level: str
    path: str


@dataclass(frozen=True)
class Subtree:
    """A jurisdiction, its children (the drill-down rows) and which row each code of the subtree falls in."""

    root: Place
    children: list[Place]
    row_of: dict[str, str]  # every code of the subtree → its child of the root, or the root itself
    chain: list[Place]  # from the top of the tree down to the root (the breadcrumb)

    @property
    def rows(self) -> list[Place]:
        """The children, and the root itself (本级: cases held at the root's own level)."""
        return [*self.children, self.root]


def subtree(session: Session, root_code: str) -> Subtree | None:
    """The subtree under ``root_code`` (one statement over the jurisdictions — reference data, a few
    hundred rows; None if the code does not exist)."""
    places = {r.code: Place(*r) for r in session.execute(
        select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.parent_code, Jurisdiction.level, Jurisdiction.path))}
    root = places.get(root_code)
    if root is None:
        return None
    inside = [p for p in places.values() if p.path.startswith(root.path)]
    children = sorted((p for p in inside if p.parent_code == root.code), key=lambda p: p.code)
    row_of = {root.code: root.code}
    for child in children:
        for p in inside:
            if p.path.startswith(child.path):
                row_of[p.code] = child.code
    chain = sorted((p for p in places.values() if root.path.startswith(p.path)), key=lambda p: len(p.path))
    return Subtree(root, children, row_of, chain)


def _in_subtree(user: User, root_code: str):
    return and_(visible_cases_clause(user), Case.jurisdiction_code.in_(subtree_codes(root_code)))


def _scope(session: Session, user: User, root_code: str):
    """The cases the figures count, as a WHERE clause: visible to ``user`` and held in the subtree.

    For a staff user whose own subtree holds ``root_code`` (every cockpit page: ``_root`` checks
    it), a case held in the subtree is visible by that alone, so the clause is just the subtree's
    codes as a literal list — which PostgreSQL reads as index ranges per code (docs/performance.md
    "Pages at 1 M cases"). Anyone else: the visibility rule and the subtree, as before."""
    codes = _codes(session, user, root_code)
    return Case.jurisdiction_code.in_(codes) if codes is not None else _in_subtree(user, root_code)


def _codes(session: Session, user: User, root_code: str) -> list[str] | None:
    """The subtree's codes when they alone select what ``user`` may count (``_scope``), else None."""
    if user.role in STAFF_ROLES and in_subtree(session, user.jurisdiction_code, root_code):
        return sorted(session.scalars(subtree_codes(root_code)))
    return None


def _clocks_scoped(session: Session, user: User, root_code: str, stmt):
    """``stmt`` over ``deadlines`` narrowed to the clocks of the cases the figures count: by the
    deadlines' own copy of their case's jurisdiction (kept by triggers, migration 0017_deadline_j) —
    index ranges per code, no case read — or, for a user the codes do not describe, through the cases."""
    codes = _codes(session, user, root_code)
    if codes is not None:
        return stmt.where(Deadline.jurisdiction_code.in_(codes))
    return stmt.join(Case, Case.id == Deadline.case_id).where(_in_subtree(user, root_code))


# ---------------------------------------------------------------- 按期整改率 and time to close


def rectification_due_clauses(start: date | None, end: date | None, now: datetime) -> list:
    """The rectification clocks the 按期整改率 counts as due in [start, end] (module docstring):
    WHERE clauses on ``deadlines``, shared with the case lists' ``rectification_due_*`` filters."""
    d = Deadline
    out = [d.key == RECTIFICATION_KEY, d.status.in_(("open", "met", "missed"))]
    if start is not None:
        out.append(d.due_date >= start)
    if end is not None:
        out.append(d.due_date <= end)
    return [*out, d.due_at.is_not(None), or_(d.status == "met", d.due_at <= now)]


def on_time_clause():
    """A clock met no later than its due instant (按期完成); shared with ``rectified_on_time``."""
    return and_(Deadline.status == "met", Deadline.closed_at <= Deadline.due_at)


def late_clause(now: datetime):
    """A clock past its due instant that was not done by then (the trend's 逾期; ``overdue_month``)."""
    d = Deadline
    return and_(d.due_at <= now, or_(d.closed_at.is_(None), d.closed_at > d.due_at))


def on_time_rates(session: Session, user: User, root: Subtree, start: date, end: date,
                  now: datetime) -> dict[str, dict[str, int]]:
    """{row code: {"due": cases with a decided rectification clock due in [start, end], "on_time":
    those whose every such clock was met by its due}} (module docstring). Cases, not clocks: a case
    with two rounds due in the period counts once, late if either round was — as the ledger lists it
    (``case_lists.clock_filters``)."""
    d = Deadline
    late = case((on_time_clause(), 0), else_=1)
    per_case = _clocks_scoped(session, user, root.root.code,
                              select(d.jurisdiction_code.label("code"), func.max(late).label("late"))
                              .where(*rectification_due_clauses(start, end, now)))
    per_case = per_case.group_by(d.jurisdiction_code, d.case_id).subquery()
    stmt = (select(per_case.c.code, func.count(), func.sum(per_case.c.late))
            .group_by(per_case.c.code))
    out: dict[str, dict[str, int]] = {}
    for code, due, late_cases in session.execute(stmt):
        row = out.setdefault(root.row_of.get(code, root.root.code), {"due": 0, "on_time": 0})
        row["due"] += due
        row["on_time"] += due - int(late_cases or 0)
    return out


def _local_date(column, dialect: str):
    """The Beijing date of a stored UTC instant, in SQL (China keeps UTC+8 all year)."""
    if dialect == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")  # SQLite stores the UTC instant as text


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def close_times(session: Session, user: User, root: Subtree, start: date, end: date,
                calendar) -> dict[str, dict[str, int]]:
    """{row code: {"closed": cases closed in [start, end], "working_days": their working days from
    found to closed, summed}}. Two grouped statements (by found day and by closed day) and the
    calendar's cumulative working-day count: Σ(W(closed) − W(found)) = ΣW(closed) − ΣW(found)."""
    dialect = session.get_bind().dialect.name
    where = and_(_scope(session, user, root.root.code), Case.closed_at >= day_start(start),
                 Case.closed_at < day_start(end + timedelta(days=1)))
    sums: dict[str, list[tuple[date, int, int]]] = {}
    for sign, column in ((1, Case.closed_at), (-1, Case.found_at)):
        day = _local_date(column, dialect)
        for code, d, n in session.execute(select(Case.jurisdiction_code, day, func.count()).where(where)
                                          .group_by(Case.jurisdiction_code, day)):
            sums.setdefault(code, []).append((_as_date(d), n, sign))
    days = [d for parts in sums.values() for d, _, _ in parts]
    if not days:
        return {}
    first, last = min(days), max(days)
    cumulative: dict[date, int] = {}
    total, d = 0, first
    while d <= last:  # W(d): working days after ``first`` up to and including d
        if d > first and calendar.is_working_day(d):
            total += 1
        cumulative[d] = total
        d += timedelta(days=1)
    out: dict[str, dict[str, int]] = {}
    for code, parts in sums.items():
        row = out.setdefault(root.row_of.get(code, root.root.code), {"closed": 0, "working_days": 0})
        for d, n, sign in parts:
            row["working_days"] += sign * n * cumulative[d]
            if sign > 0:
                row["closed"] += n
    return out


def ranking(session: Session, user: User, root: Subtree, start: date, end: date, now: datetime,
            calendar) -> list[dict[str, Any]]:
    """The rows of the drill-down (children, then the root's own level when it has cases), each with
    its 按期整改率 and average working days to close, best rate first (no clock due: last)."""
    rates = on_time_rates(session, user, root, start, end, now)
    times = close_times(session, user, root, start, end, calendar)
    out = []
    for place in root.rows:
        r = rates.get(place.code, {"due": 0, "on_time": 0})
        t = times.get(place.code, {"closed": 0, "working_days": 0})
        if place.code == root.root.code and root.children and not (r["due"] or t["closed"]):
            continue  # nothing held at the root's own level
        out.append({"place": place, "due": r["due"], "on_time": r["on_time"], "late": r["due"] - r["on_time"],
                    "rate": round(100 * r["on_time"] / r["due"], 1) if r["due"] else None,
                    "closed": t["closed"],
                    "avg_days": round(t["working_days"] / t["closed"], 1) if t["closed"] else None})
    out.sort(key=lambda x: (x["rate"] is None, -(x["rate"] or 0), x["avg_days"] is None, x["avg_days"] or 0,
                            x["place"].code))
    return out


# ---------------------------------------------------------------- 12-month trend


def months_back(today: date, n: int = 12) -> list[tuple[date, date]]:
    """The last ``n`` calendar months up to today's, oldest first, as (first day, last day)."""
    out = []
    y, m = today.year, today.month
    for _ in range(n):
        first = date(y, m, 1)
        following = date(y + (m == 12), m % 12 + 1, 1)
        out.append((first, following - timedelta(days=1)))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def monthly_trend(session: Session, user: User, root_code: str, today: date, now: datetime,
                  n: int = 12) -> list[dict[str, Any]]:
    """[{"first", "last", "opened", "closed", "overdue"}] for the last ``n`` months (module docstring):
    one statement over the cases, one over the clocks."""
    months = months_back(today, n)
    bounds = [(day_start(first), day_start(last + timedelta(days=1))) for first, last in months]
    lo = bounds[0][0]
    hi = bounds[-1][1]
    where = _scope(session, user, root_code)
    # Two statements, each one range of one column (the (jurisdiction, found_at) and
    # (jurisdiction, closed_at) indexes, read without the table), not one over either column.
    opened = session.execute(select(*(func.count().filter(and_(Case.found_at >= a, Case.found_at < b))
                                      for a, b in bounds))
                             .where(where, Case.found_at >= lo, Case.found_at < hi)).one()
    closed = session.execute(select(*(func.count().filter(and_(Case.closed_at >= a, Case.closed_at < b))
                                      for a, b in bounds))
                             .where(where, Case.closed_at >= lo, Case.closed_at < hi)).one()
    d = Deadline
    late = late_clause(now)
    overdue_cols = [func.count(func.distinct(d.case_id)).filter(and_(d.due_at >= a, d.due_at < b)) for a, b in bounds]
    overdue = session.execute(_clocks_scoped(session, user, root_code, select(*overdue_cols)
                                             .where(d.affects_light, d.due_at >= lo, late))).one()  # bare: the partial index's predicate
    return [{"first": first, "last": last, "opened": opened[i], "closed": closed[i],
             "overdue": overdue[i]} for i, (first, last) in enumerate(months)]


# ---------------------------------------------------------------- escalation log


def escalation_log(session: Session, user: User, root_code: str, *, page: int = 1, page_size: int = 50,
                   rungs: tuple[str, ...] | None = MEASURE_RUNGS) -> dict[str, Any]:
    """The rung firings on the visible cases of the subtree, newest first: which case, which rung,
    when, and the documents it issued (``effects.documents``); ``rungs=None``: reminders too."""
    stmt = (select(RungFiring, Case.id, Case.number, Case.title, Case.jurisdiction_code, Deadline.label)
            .join(Case, Case.id == RungFiring.case_id).join(Deadline, Deadline.id == RungFiring.deadline_id)
            .where(_in_subtree(user, root_code)))
    if rungs:
        stmt = stmt.where(RungFiring.rung.in_(rungs))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.execute(stmt.order_by(RungFiring.fired_at.desc(), RungFiring.id.desc())
                           .limit(page_size).offset((page - 1) * page_size)).all()
    items = [{"id": f.id, "rung": f.rung, "label": f.label, "fired_at": f.fired_at, "scheduled_at": f.scheduled_at,
              "deadline": deadline_label, "documents": (f.effects or {}).get("documents") or [],
              "supervision": (f.effects or {}).get("supervision"), "escalated": (f.effects or {}).get("escalated"),
              "case": {"id": case_id, "number": number, "title": title, "jurisdiction_code": code}}
             for f, case_id, number, title, code, deadline_label in rows]
    return {"items": items, "total": total or 0, "page": page, "page_size": page_size}
