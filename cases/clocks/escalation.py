"""Firing due timers: each rung of the ladder does its effects exactly once per case,
deadline and rung — guaranteed by the ``rung_firings`` unique key written in the same
transaction as the effects (events, supervision records, outbox messages).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import BigInteger, any_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.ledger import services
from cases.platform.clock import to_local
from cases.platform.config import get_settings
from cases.issuance.docnumbers import issue_document_number
from cases.models import Case, Deadline, Jurisdiction, RungFiring, Timer
from state_machines.policies import Rung

log = logging.getLogger("anjian.escalation")
MAX_ATTEMPTS = 5

NEXT_MEASURE = {"remind_before": "逾期预警", "remind_due_day": "逾期预警", "overdue": "挂牌督办",
                "listing": "约谈", "interview": "通报批评", "criticism": "提级", "escalate": "提级督办"}
# What follows on a clock of the authority's own staff (officer, approver): their chain, not the enterprise's.
NEXT_MEASURE_STAFF = {"remind_before": "逾期预警", "remind_due_day": "逾期预警", "overdue": "报上级主管部门督办",
                      "supervise": "通报"}


def next_measure(rung: str, party: str | None) -> str:
    table = NEXT_MEASURE_STAFF if party in ("officer", "approver") else NEXT_MEASURE
    return table.get(rung, "")


def ladder_roles(effect: str, party: str | None, ladder: str) -> tuple[str, ...]:
    """Who a rung's message goes to, by whose clock it is (``Deadline.party``): the same answer
    for both firing paths. An enterprise hears only of its own clock; an officer's or an
    approver's clock climbs their own chain."""
    party = party or "enterprise"
    if effect == "remind":
        return {"enterprise": (outbox.ASSIGNEE, outbox.ENTERPRISE_CONTACT), "officer": (outbox.ASSIGNEE,),
                "approver": (outbox.APPROVERS,), "authority": (outbox.AUTHORITY, outbox.ASSIGNEE)}[party]
    if effect == "overdue_warning":
        return {"enterprise": (outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR),
                "officer": (outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR),
                "approver": (outbox.APPROVERS, outbox.APPROVERS_SUPERVISOR),
                "authority": (outbox.AUTHORITY, outbox.ASSIGNEE_SUPERVISOR)}[party]
    if effect == "supervise":  # 督办提醒: the chain above whoever is late
        return {"enterprise": (outbox.ASSIGNEE_SUPERVISOR,), "officer": (outbox.UPPER_SUPERVISORS,),
                "approver": (outbox.APPROVERS_SUPERVISOR,), "authority": (outbox.UPPER_SUPERVISORS,)}[party]
    if effect == "warning_letter":  # a letter to the enterprise only ever about the enterprise's clock
        return (outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE) if party == "enterprise" else ()
    if effect == "task_due":
        return (outbox.ASSIGNEE,)
    raise KeyError(effect)


@dataclass
class Firing:
    session: Session
    timer: Timer
    deadline: Deadline
    case: Case
    rung: Rung
    now: datetime
    effects: dict[str, Any] = field(default_factory=dict)

    @property
    def cause(self) -> str:
        return f"rung:{self.deadline.id}:{self.rung.rung}"

    def variables(self) -> dict[str, Any]:
        d = self.deadline
        today = to_local(self.now).date()
        days_left = (d.due_date - today).days if d.due_date else None
        ctx = getattr(self, "_ctx", None)
        j = ctx.jurisdiction(self.case.jurisdiction_code) if ctx else self.session.get(Jurisdiction, self.case.jurisdiction_code)
        return {
            "case_number": self.case.number, "case_title": self.case.title, "case_id": self.case.id,
            "task": d.label, "deadline_key": d.key, "deadline_at": d.due_at.isoformat() if d.due_at else None,
            "due_date": d.due_date.isoformat() if d.due_date else None, "deadline_provisional": d.provisional,
            "days_left": days_left, "overdue_days": max(0, -(days_left or 0)),
            "light": "red" if d.due_at and d.due_at <= self.now else "yellow",
            "rung": self.rung.rung, "rung_name": self.rung.label, "next_measure": next_measure(self.rung.rung, d.party),
            "issuing_authority": j.authority_name if j else "",
        }


EFFECTS: dict[str, Callable[[Firing], None]] = {}


def rung_effect(fn):
    EFFECTS[fn.__name__] = fn
    return fn


def _urgent(f: Firing) -> bool:
    return f.deadline.unit == "hour"  # accident and D-grade clocks ignore quiet hours


def _party_recipients(f: Firing, effect: str) -> list:
    """The rung's recipients by whose clock it is (see ``ladder_roles``)."""
    roles = ladder_roles(effect, f.deadline.party, f.deadline.ladder)
    listing = _listing(f).code if f.deadline.supervision_id else None
    return outbox.resolve_recipients(f.session, f.case, roles, listing_jurisdiction_code=listing)


@rung_effect
def remind(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="reminder", recipients=_party_recipients(f, "remind"),
                       cause=f.cause, variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n


@rung_effect
def overdue_warning(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="overdue_warning",
                       recipients=_party_recipients(f, "overdue_warning"), cause=f.cause,
                       variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n
    f.effects["overdue"] = True


@rung_effect
def supervise(f: Firing) -> None:
    """督办提醒: the late party's chain is told (an officer's: the supervisors of the level above)."""
    n = outbox.enqueue(f.session, case=f.case, template="overdue_warning",
                       recipients=_party_recipients(f, "supervise"), cause=f.cause,
                       variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n
    f.effects["overdue"] = True


def _document(f: Firing, doc_type: str, template: str, roles: list[str], issuer: Jurisdiction, **extra) -> str:
    """A numbered letter of the ladder: stored as a document (rendered later, linked from the case) and sent."""
    from cases.issuance import documents

    number = issue_document_number(f.session, issuer, doc_type, to_local(f.now).year, get_settings().doc_number_prefixes)
    variables = {**f.variables(), "doc_number": number, "issuing_authority": issuer.authority_name, **extra}
    doc = documents.record(f.session, f.case, doc_type, number=number, issuer=issuer, cause=f.cause, now=f.now,
                     snapshot=variables, recipients=outbox.resolve_recipients(
                         f.session, f.case, roles, listing_jurisdiction_code=extra.get("listing_jurisdiction_code")))
    f.effects.setdefault("documents", []).append({"type": doc_type, "number": number})
    f.effects["messages"] = f.effects.get("messages", 0) + doc.enqueued
    return number


@rung_effect
def warning_letter(f: Firing) -> None:
    if not ladder_roles("warning_letter", f.deadline.party, f.deadline.ladder):
        return  # 警示函 goes to an enterprise only for its own clock, never for an officer's delay
    issuer = f.session.get(Jurisdiction, f.case.jurisdiction_code)
    _document(f, "warning_letter", "warning_letter", [outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE], issuer)


@rung_effect
def list_supervision(f: Firing) -> None:
    from cases.clocks.deadlines import get_policy
    from cases.clocks.supervision import list_case

    cfg = get_policy().supervision
    sup = list_case(f.session, f.case, reason="overdue", requirements=f"{f.deadline.label}已逾期，限期完成整改并书面报告",
                    start_at=f.now, amount=int(cfg["overdue_listing_amount"]), unit=cfg["unit"], now=f.now,
                    letter=True, cause=f.cause)
    f.effects["supervision"] = {"id": sup.id, "notice_no": sup.notice_no}


def _listing(f: Firing) -> Jurisdiction:
    from cases.models import Supervision

    sup = f.session.get(Supervision, f.deadline.supervision_id) if f.deadline.supervision_id else None
    code = sup.listing_jurisdiction_code if sup else f.case.jurisdiction_code
    return f.session.get(Jurisdiction, code)


def _supervised_code(f: Firing) -> str:
    from cases.models import Supervision

    sup = f.session.get(Supervision, f.deadline.supervision_id) if f.deadline.supervision_id else None
    return sup.supervised_jurisdiction_code if sup else f.case.jurisdiction_code


@rung_effect
def interview(f: Firing) -> None:
    # Addressed to the supervised authority (catalogue: interview_notice), so sent to its staff;
    # the interview's time comes from the policy (cases.issuance.documents.ladder_dates).
    listing = _listing(f)
    _document(f, "interview_notice", "interview_notice", [outbox.AUTHORITY], listing,
              interview_reason=f"“{f.case.title}”（案件编号：{f.case.number}）挂牌督办事项逾期未完成",
              interview_place=listing.authority_name + "会议室", listing_jurisdiction_code=listing.code)


@rung_effect
def criticism(f: Firing) -> None:
    listing = _listing(f)
    supervised = f.session.get(Jurisdiction, _supervised_code(f))
    _document(f, "public_criticism", "public_criticism", [outbox.AUTHORITY, outbox.LISTING_AUTHORITY], listing,
              criticized_unit=supervised.authority_name, listing_jurisdiction_code=listing.code)


def _escalation_reason(f: Firing, variables: dict[str, Any], parent: Jurisdiction) -> str:
    """Why a case moves up (提级原因): which deadline was missed, since when and by how long."""
    d = f.deadline
    missed = f"已于{d.due_date.year}年{d.due_date.month}月{d.due_date.day}日届满" if d.due_date else "已届满"
    late = f"，逾期{variables['overdue_days']}日" if variables.get("overdue_days") else ""
    return (f"“{f.case.title}”的{d.label}{missed}{late}仍未完成，"
            f"按督办升级规定（{f.rung.label}）提级至{parent.authority_name}督办。")


@rung_effect
def escalate(f: Firing) -> None:
    """提级: the case's supervising authority moves to the parent jurisdiction."""
    current = f.session.get(Jurisdiction, f.case.jurisdiction_code)
    if current is None or not current.parent_code:
        f.effects["escalated"] = None
        return
    parent = f.session.get(Jurisdiction, current.parent_code)
    services.record_system_event(f.session, f.case, "escalated",
                                 {"from": current.code, "to": parent.code, "rung": f.rung.rung, "deadline_id": f.deadline.id},
                                 now=f.now, changes={"jurisdiction_code": parent.code},
                                 comment=f"提级：由{current.authority_name}提级至{parent.authority_name}督办")
    f.session.refresh(f.case)
    f.effects["escalated"] = {"from": current.code, "to": parent.code}
    variables = f.variables()
    n = outbox.enqueue(f.session, case=f.case, template="escalation_transfer",
                       recipients=outbox.nearest_supervisors(f.session, parent.code)
                       + outbox.resolve_recipients(f.session, f.case, [outbox.ASSIGNEE]),
                       cause=f.cause, variables={**variables, "from_authority": current.authority_name,
                                                 "to_authority": parent.authority_name,
                                                 "escalated_at": f.now.isoformat(),
                                                 "reason": _escalation_reason(f, variables, parent)}, now=f.now)
    f.effects["messages"] = f.effects.get("messages", 0) + n


@rung_effect
def task_due(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="reminder",
                       recipients=outbox.resolve_recipients(f.session, f.case, ladder_roles("task_due", f.deadline.party,
                                                                                            f.deadline.ladder)),
                       cause=f.cause, variables=f.variables(), now=f.now)
    f.effects["messages"] = f.effects.get("messages", 0) + n


# ---------------------------------------------------------------- the sweep


def _claim_firing(session: Session, timer: Timer, rung: Rung, now: datetime, worker: str | None) -> int | None:
    """Insert the firing row; None if this (deadline, rung) has fired already."""
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(RungFiring).values(
        case_id=timer.case_id, deadline_id=timer.deadline_id, rung=timer.rung, label=rung.label,
        scheduled_at=timer.fire_at, fired_at=now, worker=worker, effects={},
    ).on_conflict_do_nothing(index_elements=["deadline_id", "rung"]).returning(RungFiring.id)
    return session.execute(stmt).scalar()


def stale_reason(rung: Rung, deadline: Any, now: datetime, policy: Any, calendar: Any = None,
                 session: Session | None = None) -> str | None:
    """Why a reminder whose moment has passed is no longer true at ``now`` (then it is skipped,
    not sent); None when it is still true, and always None for the measures after the due instant.

    A reminder (before_due / due_day / before_due_hours) is true from its own moment until the
    moment of the next rung of its ladder (for the last reminder: the due instant); when that next
    rung is a day-based reminder, until the start of its day. After an
    outage the late sweep therefore sends only the reminder that is true now, and none once the
    deadline has expired — the overdue rung speaks then. The rule: docs/legal-time.md "Late rungs".
    ``deadline`` may be an ORM Deadline or a row with ``ladder``, ``due_at``, ``due_date``, ``unit``.
    """
    if not rung.is_reminder_before or deadline.due_at is None:
        return None
    from cases.platform.clock import to_local
    from cases.clocks.deadlines import rung_fire_at

    def cn(t: datetime) -> str:
        d = to_local(t).date()
        return f"{d.year}年{d.month}月{d.day}日"

    due_at = deadline.due_at
    if now >= due_at:
        due_date = deadline.due_date or to_local(due_at).date()
        return (f"期限已于{due_date.year}年{due_date.month}月{due_date.day}日届满，"
                f"“{rung.label}”已失去意义，未发送（由逾期措施接续）")
    ladder = policy.ladder(deadline.ladder)
    later = ladder[[r.rung for r in ladder].index(rung.rung) + 1:] if rung in ladder else ()
    if later and later[0].is_reminder_before:
        if calendar is None:
            from cases.clocks.calendar_store import get_calendar

            calendar = get_calendar(session)
        nxt = rung_fire_at(later[0], deadline, calendar, policy)
        # A day-based reminder (09:00 of its day) speaks for that whole day: from its day on, the
        # earlier reminder is not sent any more.
        day_based = "before_due_hours" not in later[0].at
        if nxt is not None and (now >= nxt or (day_based and to_local(now).date() >= to_local(nxt).date())):
            return f"已到“{later[0].label}”的时间（{cn(nxt)}），“{rung.label}”未发送，改发当前提醒"
    return None


def _skip(session: Session, timer: Timer, deadline: Deadline, case: Case, rung: Rung, now: datetime,
          reason: str) -> str:
    """Record a late reminder as skipped (timer status ``skipped``, an event on the case)."""
    session.execute(update(Timer).where(Timer.id == timer.id).values(status="skipped", last_error=reason))
    services.record_system_event(session, case, "rung_skipped", {
        "deadline_id": deadline.id, "deadline": deadline.label, "rung": rung.rung, "rung_label": rung.label,
        "due_at": deadline.due_at.isoformat() if deadline.due_at else None,
        "scheduled_at": timer.fire_at.isoformat(), "reason": reason}, now=now, comment=f"{rung.label}未发送：{reason}")
    return "stale"


def due_timers(session: Session, now: datetime, limit: int) -> list[Timer]:
    stmt = (select(Timer).where(Timer.status == "pending", Timer.fire_at <= now)
            .order_by(Timer.fire_at, Timer.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        # Several workers each take a different batch; a killed worker's rows unlock on rollback.
        stmt = stmt.with_for_update(skip_locked=True, of=Timer)
    return list(session.scalars(stmt))


def _ended_by_closure(session: Session, case_ids, deadlines) -> set[int]:
    """Ids of those deadlines whose case is in a final state and which are not follow-ups
    (``cases.clocks.deadlines.is_follow_up``): their rungs must not fire. One query for the cases."""
    from cases.clocks.deadlines import get_policy, is_follow_up
    from cases.ledger.engine import get_registry

    ids = sorted({case_ids} if isinstance(case_ids, int) else set(case_ids))
    if not ids:
        return set()
    dialect = session.get_bind().dialect.name
    closed = {r.id: r for r in session.execute(select(Case.id, Case.kind, Case.machine_version).where(
        _in(Case.id, ids, dialect), Case.closed_at.is_not(None)))}
    if not closed:
        return set()
    policy, registry = get_policy(), get_registry()
    out = set()
    for d in deadlines:
        c = closed.get(d.case_id)
        if c is not None and not is_follow_up(policy, registry.get(c.kind, c.machine_version), d.key, d.supervision_id):
            out.add(d.id)
    return out


def fire_timer(session: Session, timer: Timer, now: datetime, worker: str | None = None) -> str:
    """Fire one timer inside the caller's transaction. Returns fired / duplicate / stale."""
    from cases.clocks.deadlines import get_policy

    deadline = session.get(Deadline, timer.deadline_id)
    claimed = session.execute(update(Timer).where(Timer.id == timer.id, Timer.status == "pending")
                              .values(status="fired", fired_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return "duplicate"
    if deadline is None or deadline.status != "open":
        session.execute(update(Timer).where(Timer.id == timer.id).values(status="cancelled"))
        return "stale"
    if _ended_by_closure(session, timer.case_id, [deadline]):
        # Second line of defence: closing cancels these; nothing fires on a closed case but its follow-ups.
        session.execute(update(Timer).where(Timer.id == timer.id).values(status="cancelled", last_error="case closed"))
        return "stale"
    rung = get_policy().rung(deadline.ladder, timer.rung)
    if rung is None:
        session.execute(update(Timer).where(Timer.id == timer.id).values(status="cancelled", last_error="rung not in policy"))
        return "stale"
    reason = stale_reason(rung, deadline, now, get_policy(), session=session)
    if reason is not None:
        return _skip(session, timer, deadline, session.get(Case, timer.case_id), rung, now, reason)
    firing_id = _claim_firing(session, timer, rung, now, worker)
    if firing_id is None:
        return "duplicate"
    case = session.get(Case, timer.case_id)
    f = Firing(session=session, timer=timer, deadline=deadline, case=case, rung=rung, now=now)
    for name in rung.effects:
        EFFECTS[name](f)
    services.record_system_event(session, case, "rung_fired", {
        "deadline_id": deadline.id, "deadline": deadline.label, "rung": rung.rung, "rung_label": rung.label,
        "due_at": deadline.due_at.isoformat() if deadline.due_at else None, "scheduled_at": timer.fire_at.isoformat(),
        "effects": f.effects}, now=now, comment=rung.label)
    session.execute(update(RungFiring).where(RungFiring.id == firing_id).values(effects=f.effects))
    return "fired"


def fire_due_batch(db, now: datetime, *, limit: int = 500, worker: str | None = None,
                   crash_after: int | None = None) -> dict[str, int]:
    """One transaction: claim up to ``limit`` due timers and fire them.

    Rungs whose effects are messages and warning letters (reminders, overdue warnings, task
    reminders: nearly all of them) go through the bulk path — a handful of set-based statements
    for the whole batch, see ``_fire_bulk``. The others (listing, interview, criticism, 提级) and,
    if a bulk step fails, the whole batch fall back to the per-timer path: a savepoint each, so
    one bad timer is recorded and skipped instead of blocking the queue. Exactly once either way:
    the ``pending → fired`` claim and the ``rung_firings`` unique key. Timers of a case that
    another transaction holds (PostgreSQL) are left pending for a later batch: ``seen`` counts
    them, the other counts do not.

    ``crash_after`` exists for the crash test: raise after that many timers, before commit (the
    per-timer path is used then, so "after that many" means what it says).
    """
    from cases.clocks.escalation_bulk import _due_rows, _fire_bulk, _load_timers

    counts = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0, "seen": 0}
    errors: list[tuple[int, str]] = []
    with db.transaction() as s:
        if crash_after is not None:
            slow = due_timers(s, now, limit)
            counts["seen"] = len(slow)
        else:
            due = _due_rows(s, now, limit)
            counts["seen"] = len(due)
            slow_ids = [t.id for t in due]
            if due:
                try:
                    with s.begin_nested():
                        slow_ids, bulk_counts = _fire_bulk(s, due, now, worker)
                    for k, v in bulk_counts.items():
                        counts[k] += v
                except Exception:  # e.g. an effect that cannot be done in bulk: redo one by one
                    log.exception("bulk firing of %d timers failed; falling back to one savepoint per timer", len(due))
                    slow_ids = [t.id for t in due]
            slow = _load_timers(s, slow_ids)
        for i, timer in enumerate(slow):
            if crash_after is not None and i >= crash_after:
                raise SimulatedCrash(f"crash after {i} timers")
            try:
                with s.begin_nested():
                    outcome = fire_timer(s, timer, now, worker)
                counts[outcome] += 1
            except Exception as exc:  # recorded on the timer; retried up to MAX_ATTEMPTS
                log.exception("timer %s failed", timer.id)
                errors.append((timer.id, f"{type(exc).__name__}: {exc}"))
        for timer_id, message in errors:
            s.execute(update(Timer).where(Timer.id == timer_id).values(
                attempts=Timer.attempts + 1, last_error=message[:2000]))
            s.execute(update(Timer).where(Timer.id == timer_id, Timer.attempts >= MAX_ATTEMPTS).values(status="failed"))
            counts["failed"] += 1
    return counts


def _in(col, ids, dialect: str):
    """``col = ANY(:ids)`` on PostgreSQL (one bigint[] parameter: the statement compiles once and
    stays in SQLAlchemy's cache); an expanding ``IN`` on SQLite (cached too; SQLite has no arrays)."""
    if dialect == "postgresql":
        return col == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(BigInteger)))
    return col.in_(list(ids))


# The bulk path (set-wise firing of a whole batch) lives in cases/clocks/escalation_bulk.py.


class SimulatedCrash(RuntimeError):
    pass


def fire_all_due(db, now: datetime, *, batch_size: int = 500, worker: str | None = None) -> dict[str, int]:
    """Batches until nothing is due. Timers left pending because another transaction held their
    case (PostgreSQL, see ``_fire_bulk``) are taken again once it commits; if that takes more
    than about two seconds they are left for the next sweep."""
    import time

    total = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0, "batches": 0}
    idle = 0
    while True:
        counts = fire_due_batch(db, now, limit=batch_size, worker=worker)
        total["batches"] += 1
        for k in ("fired", "duplicate", "stale", "failed"):
            total[k] += counts[k]
        done = counts["fired"] + counts["duplicate"] + counts["stale"] + counts["failed"]
        left = counts["seen"] - done
        if counts["seen"] == counts["failed"] or (counts["seen"] < batch_size and not left):
            return total
        if left and not done:
            idle += 1
            if idle > 40:
                return total
            time.sleep(0.05)
        else:
            idle = 0
