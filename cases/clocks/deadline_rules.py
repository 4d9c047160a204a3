"""The deadline rules of the policy applied to a case's clocks on each transition and on creation:
open (under the latest version), meet, pause, resume, extend, cancel — each open clock by the rule of
the version it was opened under (``cases.clocks.deadlines.policy_for``). Registered as the
``deadlines`` hook of ``cases.ledger.services``; the clocks themselves are ``cases.clocks.deadlines``."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from cases.calendar.calendar_store import get_calendar
from cases.clocks import deadlines as dl
from cases.clocks.deadlines import (EXTERNAL_CLOCKS, OPEN, _clock_actions, close_deadline, deadline_summary, get_policy,
                                    hold_open_deadlines, open_deadline, open_deadlines, policy_for, recompute_due,
                                    schedule_timers, warn_at_for)
from cases.clocks.legal_time import HolidayCalendar
from cases.ledger import services
from cases.ledger.rules import ActionContext
from cases.platform.clock import SHANGHAI
from cases.models import Case, CaseEvent, Deadline
from state_machines.policies import DeadlineRule, Policy


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
    ``survives_closure``, or it is opened by an action that ends the case (回头看 on close), or it
    is an outside clock that survives closure (``EXTERNAL_CLOCKS``)."""
    if supervision_id is not None:
        return False
    if key in EXTERNAL_CLOCKS:
        return EXTERNAL_CLOCKS[key]
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
    """Open, meet, pause, resume, extend and cancel the case's deadlines for one action.

    New clocks open under the latest policy; an open clock follows the rule of the version it was
    opened under (``policy_for``), so a version that changes a rule leaves the clocks before it alone."""
    policy = get_policy()
    starts = [r for r in policy.rules_for(case.kind) if action in r.start_on and _rule_applies(r, case)]
    touching = _clock_actions(case.kind, policy.version) if dl._policy is None else frozenset(
        a for r in policy.rules_for(case.kind) for a in (*r.met_on, *r.ends_on, *r.pause_on, *r.resume_on,
                                                         *r.extend_on, *r.cancel_on))
    if not starts and action not in touching and not became_final:
        return []  # most actions (comments, assignment…) touch no clock: no query at all
    changes: list[dict[str, Any]] = []
    # One read of the case's open deadlines serves every rule (the hot path of a transition).
    live = open_deadlines(session, case.id, supervision=None)
    hold_open_deadlines(session, case.id, live)
    calendar: HolidayCalendar | None = None

    def cal() -> HolidayCalendar:
        nonlocal calendar
        if calendar is None:
            calendar = get_calendar(session)
        return calendar

    def rule_of(d: Deadline) -> DeadlineRule | None:
        return policy_for(d, policy).rule(case.kind, d.key)

    def is_live(d: Deadline) -> bool:
        return d.status == OPEN and d.supervision_id is None

    for d in live:  # a clock of the case's former kind (a hazard reclassified as major) has no rule any more
        if is_live(d) and rule_of(d) is None and d.key not in EXTERNAL_CLOCKS:
            close_deadline(session, d, "cancelled", now)
            changes.append({"deadline": d.label, "change": "cancelled"})
    if became_final:
        # A final state ends every clock of the case — the supervision's too (a listed case
        # cannot get here before 摘牌, see rules.supervision_lifted) — and with them every
        # pending rung; only follow-ups keep running (整改评估; 回头看 opens just below).
        definition = services.definition_of(case)
        for d in live:
            rule = rule_of(d) if d.supervision_id is None else None
            # A clock the final action itself meets ends met, below (自查整改期限 on 报告整改完成).
            met_now = rule is not None and action in rule.met_on
            if d.status == OPEN and not is_follow_up(policy_for(d, policy), definition, d.key, d.supervision_id) \
                    and not met_now:
                close_deadline(session, d, "cancelled", now)
                changes.append({"deadline": d.label, "change": "cancelled"})
    # The clocks in the order of the latest version's rules (then keys only older versions have).
    order = {r.key: i for i, r in enumerate(policy.rules_for(case.kind))}
    keys = sorted({d.key for d in live if is_live(d)} | {r.key for r in starts}, key=lambda k: (order.get(k, len(order)), k))
    for key in keys:
        for d in [d for d in live if is_live(d) and d.key == key]:
            rule = rule_of(d)
            if rule is None:
                continue
            for actions, status in ((rule.met_on, "met"), (rule.cancel_on, "cancelled"), (rule.ends_on, "missed")):
                if action in actions and d.status == OPEN:  # cancel_on: the case moved on, the clock is moot
                    close_deadline(session, d, status, now)
                    changes.append({"deadline": d.label, "change": status})
            if d.status != OPEN:
                continue
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
        for rule in (r for r in starts if r.key == key):
            for d in [d for d in live if is_live(d) and d.key == key]:
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


