"""Loading a year's holiday notice (admin API, CLI) and recomputing the open deadlines it moves —
also what the sweep's calendar repair (cases/calendar/calendar_repair.py) uses. Split from cases/clocks/deadlines.py."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.calendar.calendar_store import get_calendar, load_year
from cases.clocks.deadlines import (OPEN, deadline_summary, get_policy, planned_timers, recompute_due, schedule_timers,
                             warn_at_for)
from cases.clocks.legal_time import HolidayCalendar
from cases.models import Case, Deadline, Timer
from state_machines.policies import Policy


def load_calendar_year(session: Session, data: dict[str, Any], *, loaded_by: str | None, now: datetime) -> dict[str, Any]:
    """Load a year's holiday notice and recompute every open deadline whose dates may touch that
    year — its due date and every pending rung (reminders, 约谈/通报/提级 "N working days after
    due"), also when the due date itself does not move. Rungs that fired stay fired. Each case
    whose dates moved gets one ``deadline_recomputed`` event listing what moved."""
    loaded = load_year(session, data, loaded_by, now)
    calendar = get_calendar(session)  # this transaction's own view, generation included
    policy = get_policy()
    year = loaded.year
    affected = 0
    by_case: dict[int, list[dict[str, Any]]] = {}
    # Rungs run up to ~20 working days (about two months with holidays) after the due date and a
    # few working days before it, so a deadline can touch the year from well before or after it.
    window = or_(Deadline.provisional.is_(True),
                 and_(Deadline.due_date >= date(year - 1, 9, 1),
                      Deadline.start_at < datetime(year + 1, 3, 1, tzinfo=timezone.utc)))
    stmt = select(Deadline).where(Deadline.status == OPEN, Deadline.due_at.is_not(None), window).order_by(Deadline.id)
    for d in session.scalars(stmt):
        item = recompute_for_calendar(session, d, calendar, policy, now)
        if item is not None:
            affected += 1
            by_case.setdefault(d.case_id, []).append(item)
    session.flush()
    # The other open clocks cannot touch the year: they are current as they are. Only those of the
    # previous generation — one stamped older, or one a process with the old calendar writes in
    # the window after the SELECT above, stays old and the sweep repairs it (cases.calendar.calendar_repair).
    session.execute(update(Deadline).where(
        Deadline.status == OPEN, Deadline.calendar_gen == calendar.generation - 1,
        or_(Deadline.due_at.is_(None), ~window)).values(calendar_gen=calendar.generation)
        .execution_options(synchronize_session=False))
    record_recomputed(session, by_case, year=year, notice=loaded.notice, now=now)
    return {"year": year, "notice": loaded.notice, "deadlines_recomputed": affected, "cases": len(by_case)}


def recompute_for_calendar(session: Session, d: Deadline, calendar: HolidayCalendar, policy: Policy,
                           now: datetime) -> dict[str, Any] | None:
    """Recompute an open deadline and its pending rungs with ``calendar``; rungs that fired stay
    fired. Returns what moved (an item of a ``deadline_recomputed`` event), None if nothing did."""
    before = (d.due_at, d.provisional)
    old_plan = {t.rung: t.fire_at for t in session.scalars(
        select(Timer).where(Timer.deadline_id == d.id, Timer.status == "pending"))}
    recompute_due(d, calendar)
    d.warn_at = warn_at_for(d, calendar, policy)
    new_plan = planned_timers(session, d, now, calendar, policy)
    moved = [{"rung": r, "label": (policy.rung(d.ladder, r).label if policy.rung(d.ladder, r) else r),
              "from": old_plan[r].isoformat() if r in old_plan else None,
              "to": new_plan[r].isoformat() if r in new_plan else None}
             for r in {**old_plan, **new_plan}
             if _utc(old_plan.get(r)) != _utc(new_plan.get(r))]
    if (_utc(d.due_at), d.provisional) == (_utc(before[0]), before[1]) and not moved:
        return None
    session.flush()
    schedule_timers(session, d, now, calendar, policy)
    return {"deadline": d.label, "from": before[0].isoformat() if before[0] else None,
            **deadline_summary(d), "rungs": moved}


def record_recomputed(session: Session, by_case: dict[int, list[dict[str, Any]]], *, year: int | None, notice: str,
                      now: datetime) -> None:
    """One ``deadline_recomputed`` event per case whose dates moved."""
    for case_id, items in by_case.items():
        case = session.get(Case, case_id)
        services.record_system_event(session, case, "deadline_recomputed",
                                     {"year": year, "notice": notice, "deadlines": items}, now=now,
                                     comment=(f"载入{year}年节假日安排，期限及提醒、督办措施时间重新计算" if year
                                              else "节假日安排已变更，期限及提醒、督办措施时间重新计算"))


def _utc(t: datetime | None) -> datetime | None:
    """Instants read back from SQLite are naive UTC; compare them as aware UTC."""
    if t is None:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
