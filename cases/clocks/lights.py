"""The traffic light of a case (红灯/黄灯/绿灯) from its live clocks: as SQL expressions over the clock
summary kept on the case row, and in Python from loaded deadlines."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, case as sql_case, exists, func, or_, select
from sqlalchemy.orm import Session

from cases.models import Case, Deadline
from cases.clocks.deadlines import OPEN


# ---------------------------------------------------------------- traffic light


def _light_of(due_at, warn_at, live, now: datetime):
    """``live``: a boolean clause — the case has a live clock."""
    return sql_case((due_at <= now, "red"), (warn_at <= now, "yellow"), (live, "green"), else_="none")


def open_light_expression(now: datetime):
    """The light of an open case from its stored clock summary (``Case.clock_due_at``, ``clock_warn_at``,
    ``clock_live``: the earliest due and warn instants of its live clocks and whether it has one, kept
    equal to the deadlines rows by the database — migration 0005_clocksum). Reads only the case row,
    so a list, a queue or a count needs no access to ``deadlines`` (docs/performance.md "Scale"):
    red ⟺ min(due_at) <= now, yellow ⟺ min(warn_at) <= now, green ⟺ a live clock exists."""
    return _light_of(Case.clock_due_at, Case.clock_warn_at, Case.clock_live.is_(True), now)


def light_expression(now: datetime):
    """SQL CASE giving each case's light: red / yellow / green / none (a closed case: none)."""
    return sql_case((Case.closed_at.is_not(None), "none"), else_=open_light_expression(now))


def next_due_expression():
    """A case's next due instant: the earliest due_at of its live clocks (None: none, or all paused)."""
    return Case.clock_due_at


# The same rules computed from the deadlines rows (what the stored summary must always equal:
# tests/test_clock_summary.py, bench/scale.py).


def computed_light_expression(now: datetime):
    """The light from the deadlines rows: a CASE of three correlated EXISTS per case."""
    live = and_(Deadline.case_id == Case.id, Deadline.status == OPEN, Deadline.affects_light.is_(True))
    return sql_case(
        (Case.closed_at.is_not(None), "none"),  # a closed case has no running clock (follow-ups are tasks)
        (exists().where(live, Deadline.due_at <= now), "red"),
        (exists().where(live, Deadline.warn_at <= now), "yellow"),
        (exists().where(live), "green"),
        else_="none",
    )


def computed_next_due_expression():
    return (select(Deadline.due_at).where(Deadline.case_id == Case.id, Deadline.status == OPEN,
                                          Deadline.affects_light.is_(True), Deadline.due_at.is_not(None))
            .order_by(Deadline.due_at).limit(1).correlate(Case).scalar_subquery())


def live_clocks_summary():
    """Per case with a live clock, computed from ``deadlines``: the earliest due_at and warn_at of its
    live (open, light-affecting) clocks — what ``Case.clock_due_at`` / ``clock_warn_at`` / ``clock_live``
    hold (a case absent here: NULL, NULL, false)."""
    return (select(Deadline.case_id, func.min(Deadline.due_at).label("due_at"),
                   func.min(Deadline.warn_at).label("warn_at"))
            .where(Deadline.status == OPEN, Deadline.affects_light.is_(True))
            .group_by(Deadline.case_id).subquery("live_clocks"))


def light_from_summary(summary, now: datetime):
    """The light of an open case outer-joined to ``live_clocks_summary()``."""
    return _light_of(summary.c.due_at, summary.c.warn_at, summary.c.case_id.is_not(None), now)


def overdue_clocks(now: datetime):
    """Per red case, computed from ``deadlines``: its earliest due_at (= its next due)."""
    return (select(Deadline.case_id, func.min(Deadline.due_at).label("next_due_at"))
            .where(Deadline.status == OPEN, Deadline.affects_light.is_(True), Deadline.due_at <= now)
            .group_by(Deadline.case_id).subquery("overdue_clocks"))


def summary_mismatches():
    """SELECT of the cases whose stored clock summary differs from their deadlines (empty: consistent)."""
    live = live_clocks_summary()
    return (select(Case.id, Case.clock_due_at, Case.clock_warn_at, Case.clock_live,
                   live.c.due_at, live.c.warn_at, live.c.case_id)
            .outerjoin(live, live.c.case_id == Case.id)
            .where(or_(Case.clock_due_at.is_distinct_from(live.c.due_at),
                       Case.clock_warn_at.is_distinct_from(live.c.warn_at),
                       Case.clock_live.is_distinct_from(live.c.case_id.is_not(None)))))


def jurisdiction_mismatches():
    """SELECT of the deadlines whose copy of their case's jurisdiction (kept by the triggers of
    migration 0017_deadline_j for the cockpit's figures) differs from the case's (empty: consistent)."""
    return (select(Deadline.id, Deadline.jurisdiction_code, Case.jurisdiction_code)
            .join(Case, Case.id == Deadline.case_id)
            .where(Deadline.jurisdiction_code.is_distinct_from(Case.jurisdiction_code)))


def lights_for(session: Session, case_ids: Iterable[int], now: datetime) -> dict[int, str]:
    ids = list(case_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Case.id, light_expression(now)).where(Case.id.in_(ids))).all())


def light_of(deadlines: Iterable[Deadline], now: datetime, *, closed: bool = False) -> str:
    """The same rule in Python, for one case whose deadlines are already loaded
    (``closed``: the case is in a final state — no light, as in light_expression)."""
    if closed:
        return "none"
    live = [d for d in deadlines if d.status == OPEN and d.affects_light]
    if any(d.due_at is not None and d.due_at <= now for d in live):
        return "red"
    if any(d.warn_at is not None and d.warn_at <= now for d in live):
        return "yellow"
    return "green" if live else "none"
