"""预警 (early warning): which open cases will turn red, or climb a rung of the escalation ladder, in
the next N working days — per district of the supervisor's subtree (issue 12, part 7).

Nothing here restates a rule. Both figures are read from what the policy already wrote when the
clocks were opened, the very rows the sweep acts on:

- **turning red**: a case is red once its earliest live clock is due (``cases.clock_due_at``, the
  clock summary the deadlines keep; ``cases.clocks.lights``). It turns red within the window when
  that instant lies after now and no later than 24:00 (Beijing) of the N-th working day from today
  (working days with 调休, ``cases.clocks.legal_time.add_working_days``);
- **climbing a rung**: the sweep fires the pending ``timers`` rows (one per deadline and rung,
  written from the policy's ladders); a case climbs when one of its pending timers of a measure
  rung (警示/逾期预警, 挂牌, 约谈, 通报, 提级, 上级督办, 移交: ``stats.MEASURE_RUNGS``) falls due in the
  window. Reminders are not measures and are left out.

Each figure has a ledger list of the same cases: ``case_lists`` filters ``red_by`` and ``measure_by``
(+ ``measure_rung``) select them with the clauses below."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cases.clocks.legal_time import add_working_days, end_of_day_utc, shanghai_date
from cases.models import Case, Timer, User
from cases.reads.stats import MEASURE_RUNGS, Subtree, _scope

DAY_CHOICES = (3, 5, 10, 20)  # the windows the page offers; the API takes 1–60


@dataclass(frozen=True)
class Window:
    days: int
    last_day: date       # the N-th working day from today (Beijing)
    until: datetime      # 24:00 of it, as a UTC instant


def window(now: datetime, days: int, calendar) -> Window:
    last = add_working_days(shanghai_date(now), days, calendar)
    return Window(days, last, end_of_day_utc(last))


def turning_red_clause(now: datetime, until: datetime):
    """Open cases not red now whose earliest live clock falls due by ``until``."""
    return and_(Case.closed_at.is_(None), Case.clock_live, Case.clock_due_at > now, Case.clock_due_at <= until)


def climbing_clause(now: datetime, until: datetime, rung: str | None = None):
    """Open cases with a pending measure rung due in (now, until] (``rung``: only that one)."""
    rungs = (rung,) if rung else MEASURE_RUNGS
    pending = select(Timer.case_id).where(Timer.status == "pending", Timer.rung.in_(rungs), Timer.fire_at > now,
                                          Timer.fire_at <= until)
    return and_(Case.closed_at.is_(None), Case.id.in_(pending))


def rung_labels() -> dict[str, str]:
    """The label of each measure rung as the ladders of the current policy name it (the first ladder
    naming it; e.g. overdue → 逾期预警（警示函）)."""
    from state_machines.policies import default_policy

    out: dict[str, str] = {}
    for rungs in default_policy().ladders.values():
        for r in rungs:
            if r.rung in MEASURE_RUNGS:
                out.setdefault(r.rung, r.label)
    return out


def figures(session: Session, user: User, root: Subtree, now: datetime, win: Window) -> dict[str, Any]:
    """Per row of the drill-down (children, the root's own level): cases turning red, cases climbing
    a rung (and per rung); with totals. Three grouped statements."""
    scope = _scope(session, user, root.root.code)
    rows: dict[str, dict[str, Any]] = {}

    def row(code: str) -> dict[str, Any]:
        return rows.setdefault(root.row_of.get(code, root.root.code), {"red": 0, "climbing": 0, "rungs": {}})

    for code, n in session.execute(select(Case.jurisdiction_code, func.count()).where(
            scope, turning_red_clause(now, win.until)).group_by(Case.jurisdiction_code)):
        row(code)["red"] += n
    for code, n in session.execute(select(Case.jurisdiction_code, func.count()).where(
            scope, climbing_clause(now, win.until)).group_by(Case.jurisdiction_code)):
        row(code)["climbing"] += n
    per_rung = (select(Case.jurisdiction_code, Timer.rung, func.count(func.distinct(Case.id)))
                .join(Timer, Timer.case_id == Case.id)
                .where(scope, Case.closed_at.is_(None), Timer.status == "pending", Timer.rung.in_(MEASURE_RUNGS),
                       Timer.fire_at > now, Timer.fire_at <= win.until)
                .group_by(Case.jurisdiction_code, Timer.rung))
    for code, rung, n in session.execute(per_rung):
        rungs = row(code)["rungs"]
        rungs[rung] = rungs.get(rung, 0) + n
    out = []
    for place in root.rows:
        r = rows.get(place.code, {"red": 0, "climbing": 0, "rungs": {}})
        if place.code == root.root.code and root.children and not (r["red"] or r["climbing"]):
            continue  # nothing held at the root's own level
        out.append({"place": place, "own_level": place.code == root.root.code and bool(root.children), **r})
    return {"rows": out, "total_red": sum(r["red"] for r in out), "total_climbing": sum(r["climbing"] for r in out)}
