"""The sweep's half of the calendar in memory: deadlines computed with a stale calendar.

Processes hold the calendar in memory and hear of an upload only after it commits
(cases.calendar.calendar_watch), so a transition in another process can open or recompute a deadline with
the old calendar just after an upload. Every deadline stores the generation that computed it
(``deadlines.calendar_gen``); an upload moves every open deadline it has looked at, or that cannot
touch its year, to the new generation. What is left older is exactly what the upload could not have
seen: the sweep recomputes it with the current calendar — due date, light, pending rungs — and
writes the same ``deadline_recomputed`` event an upload writes when something moved. So a race
leaves a stale date for at most one sweep interval and ends as if the transition had come just
before the upload. docs/legal-time.md "The calendar in memory".
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.calendar import calendar_watch
from cases.calendar.calendar_store import _engine, current_calendar
from cases.platform.db import Database
from cases.models import Case, CalendarYear, Deadline

log = logging.getLogger(__name__)

BATCH = 200


def repair_stale_deadlines(session: Session, now: datetime, *, limit: int = BATCH) -> dict[str, Any]:
    """Recompute up to ``limit`` open deadlines of an older calendar generation; the caller commits.

    Cases are locked (``FOR UPDATE``, in id order) before their deadlines are read again, as a
    transition does, so a repair and a transition on one case queue instead of overwriting each
    other.
    """
    from cases.clocks.deadlines import OPEN, get_policy, record_recomputed, recompute_for_calendar

    calendar = current_calendar(session)
    generation = calendar.generation
    watch = calendar_watch.watch_for(_engine(session))
    watch.heal(generation)  # SQLite: an upload that died between commit and the version file
    case_ids = sorted(set(session.scalars(
        select(Deadline.case_id).where(Deadline.status == OPEN, Deadline.calendar_gen < generation)
        .order_by(Deadline.id).limit(limit))))
    if not case_ids:
        return {"generation": generation, "deadlines": 0, "recomputed": 0, "cases": 0}
    policy = get_policy()
    latest = session.scalars(select(CalendarYear).order_by(CalendarYear.loaded_at.desc(),
                                                           CalendarYear.year.desc()).limit(1)).first()
    checked = 0
    by_case: dict[int, list[dict[str, Any]]] = {}
    for case_id in case_ids:
        session.execute(select(Case.id).where(Case.id == case_id).with_for_update(key_share=True))
        stale = session.scalars(select(Deadline).where(
            Deadline.case_id == case_id, Deadline.status == OPEN, Deadline.calendar_gen < generation)
            .order_by(Deadline.id)).all()
        for d in stale:
            checked += 1
            if d.due_at is None:  # paused: computed again on resume, with the calendar of then
                d.calendar_gen = generation
                continue
            item = recompute_for_calendar(session, d, calendar, policy, now)
            d.calendar_gen = generation
            if item is not None:
                by_case.setdefault(case_id, []).append(item)
    session.flush()
    if by_case:
        year, notice = (latest.year, latest.notice) if latest is not None else (None, "")
        record_recomputed(session, by_case, year=year, notice=notice, now=now)
        log.info("calendar generation %s: %s deadline(s) computed with an older calendar recomputed "
                 "on %s case(s)", generation, sum(map(len, by_case.values())), len(by_case))
    return {"generation": generation, "deadlines": checked,
            "recomputed": sum(map(len, by_case.values())), "cases": len(by_case)}


def repair_calendar(db: Database, now: datetime, *, limit: int = BATCH) -> dict[str, Any]:
    """One transaction of ``repair_stale_deadlines`` (what the sweep runs first)."""
    with db.transaction() as s:
        return repair_stale_deadlines(s, now, limit=limit)
