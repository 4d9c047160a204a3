"""Deadlines on cases: opened, met, paused, extended and cancelled by transitions, in the
transition's own transaction, with their timers. The traffic light is derived from them.

Rules come from ``state_machines/policies/deadlines-vN.yaml``; arithmetic from cases.clocks.legal_time.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.calendar.calendar_store import get_calendar
from cases.platform.clock import SHANGHAI
from cases.clocks.legal_time import HolidayCalendar, add_working_days, compute_due
from cases.models import Case, CaseEvent, Deadline, RungFiring, Timer
from cases.ledger.rules import ActionContext
from state_machines.policies import DeadlineRule, Policy, Rung, default_policy

OPEN = "open"
LIGHT_LABELS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "none": "无期限"}
PARTY_LABELS = {"enterprise": "责任单位", "officer": "承办人", "approver": "审批人", "authority": "被督办机关"}
STATUS_LABELS = {"open": "计时中", "met": "已完成", "missed": "已失效", "cancelled": "已取消",
                 "superseded": "已重新计期"}

_policy: Policy | None = None

# Clocks of side records (a referral's reply clock: cases/referrals/services.py): opened by their
# record, not by the case's policy rules, so those rules never close them — not as a former
# kind's clock, not on the case's closure (a referral's reply is owed whatever the case does).
SIDE_CLOCK_KEYS = frozenset({"referral_reply"})


def get_policy() -> Policy:
    return _policy or default_policy()


def set_policy(policy: Policy | None) -> None:
    global _policy
    _policy = policy


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
        session.execute(update(Timer).where(Timer.deadline_id == deadline.id, Timer.status == "pending")
                        .values(status="cancelled").execution_options(synchronize_session=False))
        # A skipped reminder (cases.clocks.sweep.stale_reason) may be armed again for a new due date.
        session.execute(Timer.__table__.delete().where(Timer.deadline_id == deadline.id,
                                                       Timer.status.in_(("cancelled", "skipped"))))
    plan = planned_timers(session, deadline, now, calendar, policy, fresh=fresh)
    rows = [{"case_id": deadline.case_id, "deadline_id": deadline.id, "rung": rung, "fire_at": fire_at,
             "status": "pending", "attempts": 0, "created_at": now} for rung, fire_at in plan.items()]
    if rows:
        session.execute(Timer.__table__.insert(), rows)
    return len(rows)


def planned_timers(session: Session, deadline: Deadline, now: datetime, calendar: HolidayCalendar,
                   policy: Policy | None = None, *, fresh: bool = False) -> dict[str, datetime]:
    """The pending timers a deadline should have now: {rung: fire_at}, in ladder order (nothing written)."""
    policy = policy or get_policy()
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
        session.execute(update(Timer).where(Timer.deadline_id.in_(ids), Timer.status == "pending")
                        .values(status="cancelled").execution_options(synchronize_session=False))


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
    session.add(d)
    session.flush()
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


# ---------------------------------------------------------------- hooks


def _rule_amount(rule: DeadlineRule, case: Case, values: dict[str, Any]) -> int:
    a = rule.amount
    if isinstance(a, int):
        return a
    if isinstance(a, dict):
        if a.get("field") and values.get(a["field"]) is not None:
            return int(values[a["field"]])
        by = a.get("by_severity") or {}
        if case.severity in by:
            return int(by[case.severity])
        return int(a.get("default", 15))
    raise ValueError(f"deadline rule {rule.kind}.{rule.key}: no amount")


def _rule_applies(rule: DeadlineRule, case: Case) -> bool:
    return all(getattr(case, k, None) == v or (case.details or {}).get(k) == v for k, v in rule.when.items())


def _start(rule: DeadlineRule, case: Case, values: dict[str, Any], now: datetime) -> tuple[datetime, int]:
    if rule.due_from_field:
        due = date.fromisoformat(str(values.get(rule.due_from_field) or (case.details or {}).get(rule.due_from_field)))
        start_day = now.astimezone(SHANGHAI).date()
        return now, max(0, (due - start_day).days)
    start = now
    if rule.start_from != "action":
        # a details field (occurred_at) or a case column (found_at: when the authority learned of it)
        raw = (values.get(rule.start_from) or (case.details or {}).get(rule.start_from)
               or getattr(case, rule.start_from, None))
        if raw:
            start = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    return start, _rule_amount(rule, case, values)


def is_follow_up(policy: Policy, definition, key: str, supervision_id: int | None = None) -> bool:
    """Whether a deadline keeps running once its case is in a final state: its rule says
    ``survives_closure``, or it is opened by an action that ends the case (回头看 on close)."""
    if supervision_id is not None:
        return False
    if key in SIDE_CLOCK_KEYS:
        return True
    rule = policy.rule(definition.kind, key)
    if rule is None:
        return False
    if rule.survives_closure:
        return True
    for name in rule.start_on:
        a = definition.action(name)
        if a is not None and a.dest is not None and definition.state(a.dest).final:
            return True
    return False


def apply_rules(session: Session, case: Case, action: str, values: dict[str, Any], now: datetime,
                event: CaseEvent | None, *, became_final: bool) -> list[dict[str, Any]]:
    """Open, meet, pause, resume, extend and cancel the case's deadlines for one action."""
    policy = get_policy()
    changes: list[dict[str, Any]] = []
    rules = [r for r in policy.rules_for(case.kind)
             if action in r.met_on or action in r.ends_on or action in r.pause_on or action in r.resume_on
             or action in r.extend_on or action in r.cancel_on or (action in r.start_on and _rule_applies(r, case))]
    if not rules and not became_final:
        return changes  # most actions (comments, assignment…) touch no clock: no query at all
    # One read of the case's open deadlines serves every rule (the hot path of a transition).
    live = open_deadlines(session, case.id, supervision=None)
    hold_open_deadlines(session, case.id, live)
    calendar: HolidayCalendar | None = None

    def cal() -> HolidayCalendar:
        nonlocal calendar
        if calendar is None:
            calendar = get_calendar(session)
        return calendar

    def live_of(key: str) -> list[Deadline]:
        return [d for d in live if d.status == OPEN and d.key == key and d.supervision_id is None]

    for d in live:  # a clock of the case's former kind (a hazard reclassified as major) has no rule any more
        if d.status == OPEN and d.supervision_id is None and policy.rule(case.kind, d.key) is None \
                and d.key not in SIDE_CLOCK_KEYS:
            close_deadline(session, d, "cancelled", now)
            changes.append({"deadline": d.label, "change": "cancelled"})
    if became_final:
        # A final state ends every clock of the case — the supervision's too (a listed case
        # cannot get here before 摘牌, see rules.supervision_lifted) — and with them every
        # pending rung; only follow-ups keep running (整改评估; 回头看 opens just below).
        definition = services.definition_of(case)
        # A clock the final action itself meets ends met, below (自查整改期限 on 报告整改完成).
        met_now = {r.key for r in rules if action in r.met_on}
        for d in live:
            if d.status == OPEN and not is_follow_up(policy, definition, d.key, d.supervision_id) \
                    and not (d.key in met_now and d.supervision_id is None):
                close_deadline(session, d, "cancelled", now)
                changes.append({"deadline": d.label, "change": "cancelled"})
    for rule in rules:
        if action in rule.met_on:
            for d in live_of(rule.key):
                close_deadline(session, d, "met", now)
                changes.append({"deadline": d.label, "change": "met"})
        if action in rule.cancel_on:  # the case moved on: the clock is moot
            for d in live_of(rule.key):
                close_deadline(session, d, "cancelled", now)
                changes.append({"deadline": d.label, "change": "cancelled"})
        if action in rule.ends_on:
            for d in live_of(rule.key):
                close_deadline(session, d, "missed", now)
                changes.append({"deadline": d.label, "change": "missed"})
        for d in live_of(rule.key):
            touched = False
            if action in rule.pause_on and not any(p[1] is None for p in d.pauses or []):
                d.pauses = [*(d.pauses or []), [now.isoformat(), None]]
                touched = True
                changes.append({"deadline": d.label, "change": "paused"})
            if action in rule.resume_on and any(p[1] is None for p in d.pauses or []):
                d.pauses = [[p[0], p[1] or now.isoformat()] for p in d.pauses]
                touched = True
                changes.append({"deadline": d.label, "change": "resumed"})
            if action in rule.extend_on:
                extra = values.get(rule.extend_on[action])
                if not extra and event is not None:  # approved as requested: the decision names the days
                    extra = ((event.payload or {}).get("extension") or {}).get("approved_days")
                if extra and (values.get("approved") is not False):
                    d.extensions = [*(d.extensions or []), int(extra)]
                    touched = True
                    changes.append({"deadline": d.label, "change": "extended", "by": int(extra)})
            if touched:
                recompute_due(d, cal())
                d.warn_at = warn_at_for(d, cal(), policy)
                session.flush()
                schedule_timers(session, d, now, cal(), policy)
                changes[-1].update(deadline_summary(d))
        if action in rule.start_on and _rule_applies(rule, case):
            for d in live_of(rule.key):
                close_deadline(session, d, "superseded", now)
            start, amount = _start(rule, case, values, now)
            d = open_deadline(session, case=case, key=rule.key, label=rule.label, ladder=rule.ladder, start_at=start,
                              amount=amount, unit=rule.unit_for(amount), now=now, light=rule.light,
                              max_extension=rule.max_extension, calendar=cal(), party=rule.party)
            changes.append({"change": "opened", **deadline_summary(d)})
    if event is not None and changes:
        services.add_to_event_payload(event, deadlines=changes)
    return changes


def _on_transition(session: Session, ctx: ActionContext, event: CaseEvent) -> None:
    definition = ctx.new_definition or ctx.definition
    final = definition.state(ctx.case.state).final
    values = {**(ctx.values or {})}
    apply_rules(session, ctx.case, ctx.action.name, values, ctx.now, event, became_final=final)
    from cases.clocks import supervision

    supervision.on_transition(session, ctx, event)


def _on_create(session: Session, case: Case, event: CaseEvent) -> None:
    apply_rules(session, case, "create", dict(case.details or {}), case.created_at, event, became_final=False)


services.register_hooks("deadlines", transition=_on_transition, creation=_on_create)


# Loading a year's holiday notice and recomputing what it moves lives in cases/calendar/calendar_years.py
# (re-exported: the API, the CLI and the repair call it from here).
from cases.calendar.calendar_years import load_calendar_year, recompute_for_calendar, record_recomputed  # noqa: E402,F401
