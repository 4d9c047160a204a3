"""Deadlines on cases: opened, met, paused, extended and cancelled by transitions, in the
transition's own transaction, with their timers. The traffic light is derived from them.

Rules come from ``state_machines/policies/deadlines-vN.yaml``; arithmetic from cases.clocks.legal_time.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from cases.calendar.calendar_store import get_calendar
from cases.platform.clock import SHANGHAI
from cases.platform.db import insert_as_loaded
from cases.clocks.legal_time import HolidayCalendar, add_working_days, compute_due
from cases.models import Case, Deadline, RungFiring, Timer
from state_machines.policies import Policy, Rung, default_policy, load_policy

OPEN = "open"
LIGHT_LABELS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "none": "无期限"}
PARTY_LABELS = {"enterprise": "责任单位", "officer": "承办人", "approver": "审批人", "authority": "被督办机关"}
STATUS_LABELS = {"open": "计时中", "met": "已完成", "missed": "已失效", "cancelled": "已取消",
                 "superseded": "已重新计期"}

_policy: Policy | None = None

# Clocks opened outside the case's machine by a side record, by key: no rule of the case's kind
# names them, so a transition never cancels them as a former kind's clock; True: they keep running
# when the case is closed (an 约谈's commitments: cases/interviews/; a 移送's reply: cases/referrals/ —
# a promise made or a reply owed stands whatever the case does).
EXTERNAL_CLOCKS: dict[str, bool] = {"commitment": True, "referral_reply": True}


def get_policy() -> Policy:
    return _policy or default_policy()


def set_policy(policy: Policy | None) -> None:
    global _policy
    _policy = policy


@lru_cache(maxsize=None)
def policy_version(version: int) -> Policy:
    """The policy of one version (the latest is ``default_policy()`` itself)."""
    latest = default_policy()
    return latest if version == latest.version else load_policy(version)


def policy_for(deadline: Any, policy: Policy | None = None) -> Policy:
    """The policy a deadline is evaluated under: the version it was opened under
    (``deadlines.policy_version``) — its rule, ladder and reminder hours — so a later version that
    changes a rule changes only the clocks opened after it. ``policy`` is returned when it is that
    version already; a test's ``set_policy`` override applies to every deadline."""
    if _policy is not None:
        return _policy
    version = getattr(deadline, "policy_version", None)
    if version is None or (policy is not None and policy.version == version):
        return policy or default_policy()
    return policy_version(int(version))


@lru_cache(maxsize=None)
def _clock_actions(kind: str, latest: int) -> frozenset[str]:
    """Every action that meets, ends, pauses, resumes, extends or cancels a clock of ``kind`` under
    any version up to ``latest`` (an open clock follows its own version's rule)."""
    out: set[str] = set()
    for v in range(1, latest + 1):
        for r in policy_version(v).rules_for(kind):
            out.update(r.met_on, r.ends_on, r.pause_on, r.resume_on, r.extend_on, r.cancel_on)
    return frozenset(out)


# ---------------------------------------------------------------- arithmetic


def _at_local(d: date, hour: int) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=SHANGHAI).astimezone(timezone.utc)


def rung_fire_at(rung: Rung, deadline: Deadline, calendar: HolidayCalendar, policy: Policy) -> datetime | None:
    """When a rung of this deadline fires; None when it does not apply (or the clock is stopped)."""
    if deadline.due_at is None:
        return None
    at = rung.at
    unit = at.get("unit", "calendar_day")
    hour = policy.reminder_hour
    if "before_due_hours" in at:
        return deadline.due_at - timedelta(hours=float(at["before_due_hours"]))
    if deadline.unit == "hour" and ("before_due" in at or "due_day" in at):
        return None  # day-based reminders make no sense on an hour clock
    if "before_due" in at:
        n = int(at["before_due"])
        d = add_working_days(deadline.due_date, -n, calendar) if unit == "working_day" else deadline.due_date - timedelta(days=n)
        return _at_local(d, hour)
    if at.get("due_day"):
        return _at_local(deadline.due_date, hour)
    if "after_due" in at:
        n = int(at["after_due"])
        if n == 0:
            return deadline.due_at
        if unit == "hour":
            return deadline.due_at + timedelta(hours=n)
        d = add_working_days(deadline.due_date, n, calendar) if unit == "working_day" else deadline.due_date + timedelta(days=n)
        return _at_local(d, hour)
    raise ValueError(f"rung {rung.rung}: unknown timing {at}")


def warn_at_for(deadline: Deadline, calendar: HolidayCalendar, policy: Policy) -> datetime | None:
    """When the light turns yellow: the ladder's first reminder, else the policy's near-due window."""
    if deadline.due_at is None or not deadline.affects_light:
        return None
    policy = policy_for(deadline, policy)
    for rung in policy.ladder(deadline.ladder):
        if rung.is_reminder_before:
            t = rung_fire_at(rung, deadline, calendar, policy)
            if t is not None:
                return t
    near = policy.near_due
    if deadline.unit == "hour":
        return deadline.due_at - timedelta(minutes=30)
    d = add_working_days(deadline.due_date, -int(near["amount"]), calendar) if near.get("unit") == "working_day" \
        else deadline.due_date - timedelta(days=int(near["amount"]))
    return _at_local(d, policy.reminder_hour)


def _pause_spans(deadline: Deadline) -> list[tuple[datetime, datetime | None]]:
    return [(datetime.fromisoformat(p[0]), datetime.fromisoformat(p[1]) if p[1] else None) for p in deadline.pauses or []]


def recompute_due(deadline: Deadline, calendar: HolidayCalendar) -> None:
    result = compute_due(deadline.start_at, deadline.amount, deadline.unit, calendar,
                         pauses=_pause_spans(deadline), extensions=list(deadline.extensions or []),
                         max_total_extension=deadline.max_extension)
    deadline.due_at = result.due_at
    deadline.due_date = result.due_date
    deadline.provisional = result.provisional
    deadline.calendar_version = result.calendar_version
    deadline.calendar_gen = calendar.generation


# ---------------------------------------------------------------- timers


def schedule_timers(session: Session, deadline: Deadline, now: datetime, calendar: HolidayCalendar,
                    policy: Policy | None = None, *, fresh: bool = False) -> int:
    """(Re)create the pending timers of a deadline; rungs that already fired are never re-armed.

    ``fresh``: the deadline was just created, so it has no timers or firings to look at.
    """
    policy = policy or get_policy()
    if not fresh:
        session.execute(_CANCEL_PENDING, {"ids": [deadline.id]})
        # A skipped reminder (cases.clocks.sweep.stale_reason) may be armed again for a new due date.
        session.execute(_DELETE_CANCELLED, {"deadline_id": deadline.id})
    plan = planned_timers(session, deadline, now, calendar, policy, fresh=fresh)
    rows = [{"case_id": deadline.case_id, "deadline_id": deadline.id, "rung": rung, "fire_at": fire_at,
             "status": "pending", "attempts": 0, "created_at": now} for rung, fire_at in plan.items()]
    if rows:
        session.execute(_INSERT, rows)
    return len(rows)


# The timer statements of every transition that opens or closes a clock, built once (on the table:
# no ORM bulk set-up; building and keying a statement costs ~0.1–0.3 ms of CPU each time).
_timers = Timer.__table__
_INSERT = _timers.insert()
_CANCEL_PENDING = (_timers.update().where(_timers.c.deadline_id.in_(bindparam("ids", expanding=True)),
                                          _timers.c.status == "pending").values(status="cancelled"))
_DELETE_CANCELLED = _timers.delete().where(_timers.c.deadline_id == bindparam("deadline_id"),
                                           _timers.c.status.in_(("cancelled", "skipped")))


def planned_timers(session: Session, deadline: Deadline, now: datetime, calendar: HolidayCalendar,
                   policy: Policy | None = None, *, fresh: bool = False) -> dict[str, datetime]:
    """The pending timers a deadline should have now: {rung: fire_at}, in ladder order (nothing written)."""
    policy = policy_for(deadline, policy or get_policy())
    if deadline.status != OPEN or deadline.due_at is None:
        return {}
    fired = set() if fresh else set(session.scalars(select(RungFiring.rung).where(RungFiring.deadline_id == deadline.id)))
    plan: dict[str, datetime] = {}
    for rung in policy.ladder(deadline.ladder):
        if rung.rung in fired:
            continue
        fire_at = rung_fire_at(rung, deadline, calendar, policy)
        if fire_at is None:
            continue
        if rung.is_reminder_before and fire_at < now:
            continue  # a reminder that is already late would mislead; the light shows it
        plan[rung.rung] = fire_at
    return plan


def cancel_timers(session: Session, deadline_ids: Iterable[int]) -> None:
    ids = list(deadline_ids)
    if ids:
        session.execute(_CANCEL_PENDING, {"ids": ids})


# ---------------------------------------------------------------- open / close


def open_deadline(session: Session, *, case: Case, key: str, label: str, ladder: str, start_at: datetime,
                  amount: int, unit: str, now: datetime, light: bool = True, max_extension: int | None = None,
                  supervision_id: int | None = None, calendar: HolidayCalendar | None = None,
                  party: str | None = None) -> Deadline:
    calendar = calendar or get_calendar(session)
    policy = get_policy()
    party = party or ("authority" if supervision_id else "enterprise")
    d = Deadline(case_id=case.id, supervision_id=supervision_id, key=key, label=label, ladder=ladder, party=party,
                 policy_version=policy.version, affects_light=light, start_at=start_at, amount=amount, unit=unit,
                 extensions=[], max_extension=max_extension, pauses=[], status=OPEN, created_at=now,
                 calendar_version="")
    recompute_due(d, calendar)
    d.warn_at = warn_at_for(d, calendar, policy)
    insert_as_loaded(session, d)  # the timers need its id
    held = session.info.get(_HELD, {}).get(case.id)
    if held is not None:
        held.append(d)
    schedule_timers(session, d, now, calendar, policy, fresh=True)
    return d


def close_deadline(session: Session, deadline: Deadline, status: str, now: datetime) -> None:
    deadline.status = status
    deadline.closed_at = now
    cancel_timers(session, [deadline.id])


# The transition's read of all the case's open deadlines, built once (bound by case id).
_ALL_OPEN = select(Deadline).where(Deadline.case_id == bindparam("case_id"), Deadline.status == OPEN).order_by(Deadline.id)


def open_deadlines(session: Session, case_id: int, key: str | None = None, *, supervision: bool | None = False) -> list[Deadline]:
    if key is None and supervision is None:
        return list(session.scalars(_ALL_OPEN, {"case_id": case_id}))
    stmt = select(Deadline).where(Deadline.case_id == case_id, Deadline.status == OPEN)
    if key:
        stmt = stmt.where(Deadline.key == key)
    if supervision is False:
        stmt = stmt.where(Deadline.supervision_id.is_(None))
    return list(session.scalars(stmt.order_by(Deadline.id)))


# The case's open deadlines as the transition's deadlines hook read them, plus the ones it opened,
# held (strong references) until the transaction ends: the case page the action answers with
# lists them without reading them again. Every deadline is opened through open_deadline.
_HELD = "anjian_open_deadlines"


def hold_open_deadlines(session: Session, case_id: int, deadlines: Iterable[Deadline]) -> None:
    session.info.setdefault(_HELD, {})[case_id] = list(deadlines)


def held_open_deadlines(session: Session, case_id: int) -> list[Deadline] | None:
    """The case's open deadlines if this transaction holds them all (else None: query them)."""
    held = session.info.get(_HELD, {}).get(case_id)
    if held is None:
        return None
    return sorted((d for d in held if d.status == OPEN), key=lambda d: d.id)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _release_held(session: Session) -> None:
    if not session.in_nested_transaction():  # a SAVEPOINT's end is not the transaction's
        session.info.pop(_HELD, None)


def paused_since(d: Deadline) -> datetime | None:
    """When the running pause of a clock began (None if it runs)."""
    open_spans = [p for p in d.pauses or [] if p[1] is None]
    return datetime.fromisoformat(open_spans[-1][0]) if open_spans and d.due_at is None else None


def deadline_summary(d: Deadline) -> dict[str, Any]:
    since = paused_since(d)
    out = {"id": d.id, "key": d.key, "label": d.label, "amount": d.amount, "unit": d.unit,
           "due_at": d.due_at.isoformat() if d.due_at else None,
           "due_date": d.due_date.isoformat() if d.due_date else None, "provisional": d.provisional,
           "paused": d.due_at is None, "party": d.party, "party_label": PARTY_LABELS.get(d.party, d.party)}
    if since is not None:
        day = since.astimezone(SHANGHAI).date()
        out["paused_since"] = since.isoformat()
        out["status_label"] = f"暂停（自{day.year}年{day.month}月{day.day}日起，等待延期审批）"
    return out


# The rules that open, meet, pause, extend and cancel clocks on a transition, and the hooks that
# run them: cases/clocks/deadline_rules.py (re-exported: complaints and the sweep call them from here).
from cases.clocks import deadline_rules as _rules  # noqa: E402,F401  (registers the hooks)


def __getattr__(name: str) -> Any:
    if name in ("apply_rules", "is_follow_up"):
        return getattr(_rules, name)
    raise AttributeError(name)

# Loading a year's holiday notice and recomputing what it moves lives in cases/calendar/calendar_years.py
# (re-exported: the API, the CLI and the repair call it from here).
from cases.calendar.calendar_years import load_calendar_year, recompute_for_calendar, record_recomputed  # noqa: E402,F401
