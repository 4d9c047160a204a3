"""Firing due timers: each rung of the ladder does its effects exactly once per case,
deadline and rung — guaranteed by the ``rung_firings`` unique key written in the same
transaction as the effects (events, supervision records, outbox messages).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, NamedTuple

from sqlalchemy import BigInteger, any_, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases import outbox, services
from cases.clock import SHANGHAI, to_local
from cases.config import get_settings
from cases.docnumbers import DOCUMENT_TITLES, authority_prefix, format_document_number, issue_document_number
from cases.documents import ladder_dates, letter_variables
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
    from cases import documents

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
    from cases.deadlines import get_policy
    from cases.supervision import list_case

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
    # the interview's time comes from the policy (cases.documents.ladder_dates).
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
    from cases.clock import to_local
    from cases.deadlines import rung_fire_at

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
            from cases.calendar_store import get_calendar

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
    (``cases.deadlines.is_follow_up``): their rungs must not fire. One query for the cases."""
    from cases.deadlines import get_policy, is_follow_up
    from cases.engine import get_registry

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
    from cases.deadlines import get_policy

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


# ---------------------------------------------------------------- the bulk path
#
# What shaped it (PostgreSQL; figures in docs/performance.md "Timers"): every statement takes
# its id lists as one array parameter (``= ANY(:ids)``), so its SQL text is the same for every
# batch and SQLAlchemy compiles it once (an expanded 500-item ``IN`` list cost more to compile
# and to parse than to run); rows are read as plain Core rows, not ORM objects; an outbox row is
# glued from per-firing and per-recipient pieces (the firing's variables JSON is encoded once);
# the rows go in with ``COPY`` (measured against ``INSERT … SELECT FROM json(b)_to_recordset``:
# about half the time for the same rows). ``COPY`` cannot skip a conflicting row, so the bulk
# path expects none — a new firing's dedupe keys and event seqs cannot exist yet — and a
# conflict (a rung fired twice by a race of re-armed timers, say) fails the step, which sends
# the batch to the per-timer path with its ``ON CONFLICT DO NOTHING`` handling. For several
# workers: cases are locked ``SKIP LOCKED`` and 文号 counters taken last (see ``_fire_bulk``).

# Effects the bulk path knows how to do set-wise; a rung with any other effect fires one by one.
BULK_EFFECTS = {"remind", "overdue_warning", "task_due", "warning_letter", "supervise"}

_DEADLINE_COLS = (Deadline.status.label("d_status"), Deadline.ladder, Deadline.label, Deadline.key, Deadline.due_at,
                  Deadline.due_date, Deadline.provisional, Deadline.supervision_id, Deadline.unit, Deadline.party)
_CASE_COLS = ("id", "event_seq", "number", "title", "state", "jurisdiction_code", "assignee_id", "enterprise_id")
_USER_COLS = ("id", "username", "display_name", "role", "jurisdiction_code", "enterprise_id", "supervisor_id",
              "email", "active")
_OUTBOX_COLS = ("dedupe_key", "case_id", "template", "recipient_user_id", "recipient_address", "channel", "variables",
                "document_no", "urgent", "status", "attempts", "next_attempt_at", "created_at")
_FIRING_COLS = ("case_id", "deadline_id", "rung", "label", "scheduled_at", "fired_at", "worker", "effects")
_EVENT_COLS = ("case_id", "seq", "at", "actor_id", "action", "from_state", "to_state", "comment", "payload")
_DOCUMENT_COLS = ("case_id", "doc_type", "number", "title", "issuing_jurisdiction_code", "variables", "status", "cause",
                  "issued_at")


class _DeadlineRef(NamedTuple):
    id: int
    case_id: int
    key: str
    supervision_id: int | None


def _in(col, ids, dialect: str):
    """``col = ANY(:ids)`` on PostgreSQL (one bigint[] parameter: the statement compiles once and
    stays in SQLAlchemy's cache); an expanding ``IN`` on SQLite (cached too; SQLite has no arrays)."""
    if dialect == "postgresql":
        return col == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(BigInteger)))
    return col.in_(list(ids))


def _due_rows(s: Session, now: datetime, limit: int) -> list:
    """The batch: due timers (locked, ``SKIP LOCKED`` on PostgreSQL) with their deadline's fields,
    as plain rows, in the order ``due_timers`` takes them."""
    stmt = (select(Timer.id, Timer.case_id, Timer.deadline_id, Timer.rung, Timer.fire_at, *_DEADLINE_COLS)
            .select_from(Timer).outerjoin(Deadline, Deadline.id == Timer.deadline_id)
            .where(Timer.status == "pending", Timer.fire_at <= now).order_by(Timer.fire_at, Timer.id).limit(limit))
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Timer)
    return s.execute(stmt).all()


def _load_timers(s: Session, ids: list[int]) -> list[Timer]:
    """ORM timers for the per-timer path, in the given order."""
    if not ids:
        return []
    dialect = s.get_bind().dialect.name
    by_id = {t.id: t for t in s.scalars(select(Timer).where(_in(Timer.id, ids, dialect)))}
    return [by_id[i] for i in ids if i in by_id]


class _BatchContext:
    """Per-batch caches: jurisdictions, users (plain rows), recipients and channels."""

    def __init__(self, session: Session, cases: dict[int, Any], dialect: str) -> None:
        from cases.models import User

        self.s = session
        ut = User.__table__
        cols = [ut.c[c] for c in _USER_COLS]
        self.jurisdictions: dict[str, Jurisdiction | None] = {}
        self.users: dict[int, Any] = {}
        ids = {c.assignee_id for c in cases.values() if c.assignee_id}
        if ids:
            self._load(select(*cols).where(_in(ut.c.id, sorted(ids), dialect)))
        sup_ids = {u.supervisor_id for u in self.users.values() if u.supervisor_id} - set(self.users)
        if sup_ids:
            self._load(select(*cols).where(_in(ut.c.id, sorted(sup_ids), dialect)))
        self.contacts: dict[int, list] = {}
        ents = sorted({c.enterprise_id for c in cases.values() if c.enterprise_id})
        if ents:
            for u in session.execute(select(*cols).where(_in(ut.c.enterprise_id, ents, dialect), ut.c.role == "enterprise",
                                                         ut.c.active.is_(True)).order_by(ut.c.id)):
                self.contacts.setdefault(u.enterprise_id, []).append(u)
        self.authority: dict[str, list] = {}
        self.nearest: dict[str, list] = {}
        self.channels: dict[tuple[int, str, bool], list[str]] = {}
        self.fanout: dict[tuple, list[tuple]] = {}
        self.listings: dict[int, str | None] = {}
        self.chain: dict[tuple, list] = {}

    def listing_code(self, supervision_id: int | None) -> str | None:
        """The listing body of a supervision's deadline (its approvers are that body's)."""
        if not supervision_id:
            return None
        if supervision_id not in self.listings:
            from cases.models import Supervision

            self.listings[supervision_id] = self.s.scalar(select(Supervision.listing_jurisdiction_code)
                                                          .where(Supervision.id == supervision_id))
        return self.listings[supervision_id]

    def _load(self, stmt) -> None:
        for u in self.s.execute(stmt):
            self.users[u.id] = u

    def jurisdiction(self, code: str) -> Jurisdiction | None:
        if code not in self.jurisdictions:
            self.jurisdictions[code] = self.s.get(Jurisdiction, code)
        return self.jurisdictions[code]

    def user(self, user_id: int):
        if user_id not in self.users:
            from cases.models import User

            ut = User.__table__
            self.users[user_id] = self.s.execute(select(*[ut.c[c] for c in _USER_COLS]).where(ut.c.id == user_id)).first()
        return self.users[user_id]

    def recipients(self, case, roles: tuple[str, ...], listing: str | None = None) -> list:
        """Same answer as outbox.resolve_recipients, from the caches."""
        from cases.models import User

        out: dict[int, Any] = {}

        def add(users) -> None:
            for u in users:
                if u is not None and u.active:
                    out.setdefault(u.id, u)

        for role in roles:
            if role == outbox.ASSIGNEE and case.assignee_id:
                add([self.user(case.assignee_id)])
            elif role == outbox.ASSIGNEE:  # unassigned: the people who assign it (as outbox.resolve_recipients)
                code = case.jurisdiction_code
                if code not in self.nearest:
                    self.nearest[code] = outbox.nearest_supervisors(self.s, code)
                add(self.nearest[code])
            elif role == outbox.ASSIGNEE_SUPERVISOR:
                assignee = self.user(case.assignee_id) if case.assignee_id else None
                if assignee is not None and assignee.supervisor_id:
                    add([self.user(assignee.supervisor_id)])
                else:
                    code = case.jurisdiction_code
                    if code not in self.nearest:
                        self.nearest[code] = outbox.nearest_supervisors(self.s, code)
                    add(self.nearest[code])
            elif role == outbox.ENTERPRISE_CONTACT and case.enterprise_id:
                add(self.contacts.get(case.enterprise_id, []))
            elif role == outbox.AUTHORITY:
                code = case.jurisdiction_code
                if code not in self.authority:
                    self.authority[code] = list(self.s.scalars(select(User).where(
                        User.jurisdiction_code == code, User.role.in_(("officer", "supervisor")), User.active.is_(True))))
                add(self.authority[code])
            elif role in (outbox.APPROVERS, outbox.APPROVERS_SUPERVISOR, outbox.UPPER_SUPERVISORS):
                key = (role, case.jurisdiction_code, listing)
                if key not in self.chain:  # the same functions as outbox.resolve_recipients, cached
                    if role == outbox.UPPER_SUPERVISORS:
                        self.chain[key] = outbox.upper_supervisors(self.s, case.jurisdiction_code)
                    else:
                        fn = outbox.approvers if role == outbox.APPROVERS else outbox.approvers_supervisors
                        self.chain[key] = fn(self.s, case, listing)
                add(self.chain[key])
        return list(out.values())

    def channels_for(self, user, template: str, urgent: bool) -> list[str]:
        key = (user.id, template, urgent)
        if key not in self.channels:
            # Users are plain rows here; resolvers read id, role and email (cases.outbox,
            # notifications.preferences).
            self.channels[key] = outbox.channels_for(self.s, user, template, urgent)
        return self.channels[key]

    def fan_out(self, case, roles: tuple[str, ...], template: str, urgent: bool, listing: str | None = None) -> list[tuple]:
        """The outbox rows of one message, as pieces: (dedupe-key tail, user id, address, channel,
        variables tail; and as ``COPY`` text: the dedupe-key tail, the middle columns, the variables
        tail). Cached by everything the answer depends on."""
        key = (case.assignee_id, case.enterprise_id, case.jurisdiction_code, roles, template, urgent, listing)
        rows = self.fanout.get(key)
        if rows is None:
            rows = []
            for user in self.recipients(case, roles, listing):
                tail = ', "recipient_name": ' + json.dumps(user.display_name, ensure_ascii=False) + "}"
                for channel in self.channels_for(user, template, urgent):
                    address = user.email if channel == "email" else None
                    dedupe_tail = f":{template}:{user.id}:{channel}"
                    mid = f"\t{_copy_text(template)}\t{user.id}\t{_copy_text(address)}\t{_copy_text(channel)}\t"
                    rows.append((dedupe_tail, user.id, address, channel, tail,
                                 _copy_text(dedupe_tail), mid, _copy_text(tail)))
            self.fanout[key] = rows
        return rows


def _plan(rung: Rung, ladder: str, supervised: bool, urgent: bool, party: str | None = None) -> tuple[list[tuple], bool]:
    """The messages of a bulk rung: [(template, roles, urgent, doc type)], and whether it is an
    overdue warning — the same choices as the effect functions above (``ladder_roles`` by party)."""
    messages = []
    overdue = False
    party = party or ("authority" if supervised else "enterprise")
    for name in rung.effects:
        if name == "remind":
            messages.append(("reminder", ladder_roles(name, party, ladder), urgent, None))
        elif name in ("overdue_warning", "supervise"):
            messages.append(("overdue_warning", ladder_roles(name, party, ladder), urgent, None))
            overdue = True
        elif name == "task_due":
            messages.append(("reminder", ladder_roles(name, party, ladder), False, None))
        elif name == "warning_letter":
            roles = ladder_roles(name, party, ladder)
            if roles:  # never a letter to the enterprise about another party's clock
                messages.append(("warning_letter", roles, False, "warning_letter"))
    return messages, overdue


def _dumps(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def _copy_text(v: str | None) -> str:
    """A text value as a ``COPY … FROM STDIN`` (text format) field. (Not ``str.translate``: ten
    times slower on the variables JSON, which as JSON has no raw tab or newline anyway.)"""
    if v is None:
        return "\\N"
    if "\\" in v:
        v = v.replace("\\", "\\\\")
    if "\t" in v:
        v = v.replace("\t", "\\t")
    if "\n" in v:
        v = v.replace("\n", "\\n")
    if "\r" in v:
        v = v.replace("\r", "\\r")
    return v


def _copy(s: Session, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows into a table: ``COPY … FROM STDIN`` on PostgreSQL, executemany on SQLite. No
    conflict handling: a duplicate key raises (and the batch goes to the per-timer path)."""
    if not rows:
        return
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
    else:
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)


class _OutboxRows:
    """A batch's outbox rows, the bulk of its data (≈4 per timer, each with its variables JSON).

    PostgreSQL: ``COPY`` text lines glued from per-firing and per-recipient pieces, sent while
    the rows are being built (the server inserts one chunk while Python builds the next — so
    nothing in between may query the database). SQLite: tuples for one executemany."""

    CHUNK = 256

    def __init__(self, s: Session, dialect: str, now: datetime, db_now) -> None:
        self.s = s
        self.pg = dialect == "postgresql"
        self.db_now = db_now
        self.rows: list = []
        self._stack = None
        self._copy = None
        stamp = now.isoformat()
        self._tail = f"\tpending\t0\t{stamp}\t{stamp}\n"

    def __enter__(self) -> "_OutboxRows":
        return self

    def _open(self) -> None:
        from contextlib import ExitStack

        self._stack = ExitStack()
        cur = self._stack.enter_context(self.s.connection().connection.dbapi_connection.cursor())
        self._copy = self._stack.enter_context(cur.copy(f"COPY outbox_messages ({', '.join(_OUTBOX_COLS)}) FROM STDIN"))

    def __exit__(self, *exc) -> None:
        if self.pg:
            if self.rows and exc[0] is None:
                if self._copy is None:
                    self._open()
                self._copy.write("".join(self.rows))
            self.rows = []
            if self._stack is not None:
                self._stack.__exit__(*exc)
        elif exc[0] is None and self.rows:
            _copy(self.s, "outbox_messages", _OUTBOX_COLS, self.rows)

    def add(self, cause: str, case_id: int, template: str, fan: list[tuple], variables: str,
            document_no: str | None, urgent: bool) -> int:
        """One message to its recipients: ``variables`` is its JSON without the closing brace."""
        rows = self.rows
        if self.pg:
            cause, head = _copy_text(cause), f"\t{case_id}"
            variables = _copy_text(variables)
            end = f"\t{_copy_text(document_no)}\t{'t' if urgent else 'f'}{self._tail}"
            for _, _, _, _, _, tail, mid, name in fan:
                rows.append(cause + tail + head + mid + variables + name + end)
            if len(rows) >= self.CHUNK:
                if self._copy is None:
                    self._open()
                self._copy.write("".join(rows))
                self.rows = []
        else:
            db_now = self.db_now
            for tail, uid, address, channel, name, _, _, _ in fan:
                rows.append((cause + tail, case_id, template, uid, address, channel, variables + name, document_no,
                             urgent, "pending", 0, db_now, db_now))
        return len(fan)


_PG_BUMP_SEQS = text(
    # Lock the cases in id order, skipping those locked elsewhere; take each locked case's event
    # seqs in one bump and read what the messages need — one statement.
    "WITH l AS (SELECT id FROM cases WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED), "
    "k AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:ns AS integer[])) AS k(id, n)) "
    "UPDATE cases AS c SET event_seq = c.event_seq + k.n FROM l JOIN k ON k.id = l.id WHERE c.id = l.id "
    f"RETURNING {', '.join('c.' + c for c in _CASE_COLS)}")


def _bump_seqs(s: Session, per_case: dict[int, int], dialect: str) -> dict[int, Any]:
    """Reserve ``per_case[id]`` event seqs per case; the cases' fields as rows (``event_seq`` is
    the last seq reserved). PostgreSQL: only the cases it could lock without waiting."""
    ids = sorted(per_case)
    if dialect == "postgresql":
        rows = s.execute(_PG_BUMP_SEQS, {"ids": ids, "ns": [per_case[i] for i in ids]})
        return {r.id: r for r in rows}
    ct = Case.__table__
    by_n: dict[int, list[int]] = {}
    for cid in ids:
        by_n.setdefault(per_case[cid], []).append(cid)
    for n, group in sorted(by_n.items()):
        s.execute(update(ct).where(_in(ct.c.id, group, dialect)).values(event_seq=ct.c.event_seq + n))
    return {r.id: r for r in s.execute(select(*[ct.c[c] for c in _CASE_COLS]).where(_in(ct.c.id, ids, dialect)))}


def _late_reminder(rung: Rung, t: Any, now: datetime, policy: Any, s: Session,
                   cache: dict[tuple, str | None]) -> str | None:
    """``stale_reason`` for a bulk row (cached per ladder, rung and due instant: a batch's rows share few)."""
    if t.due_at is None:
        return None
    key = (t.ladder, rung.rung, t.due_at, t.due_date, t.unit)
    if key not in cache:
        cache[key] = stale_reason(rung, t, now, policy, session=s)
    return cache[key]


def _skip_bulk(s: Session, skipped: list, late: dict[int, str], cases: dict[int, Any], next_seq: dict[int, int],
               now: datetime, dialect: str) -> None:
    """The bulk path's ``_skip``: late reminders that are no longer true (claimed already) are marked
    ``skipped`` with their reason, each with its ``rung_skipped`` event (seqs reserved with the batch's)."""
    tt = Timer.__table__
    by_reason: dict[str, list[int]] = {}
    for t, _ in skipped:
        by_reason.setdefault(late[t.id], []).append(t.id)
    for reason, ids in by_reason.items():
        s.execute(update(tt).where(_in(tt.c.id, ids, dialect)).values(status="skipped", last_error=reason))
    if dialect == "postgresql":
        db_now = now
    else:  # executemany bypasses SQLAlchemy's types: store the instant as its SQLite DATETIME does
        sa_dialect = s.get_bind().dialect
        db_now = tt.c.fired_at.type.dialect_impl(sa_dialect).bind_processor(sa_dialect)(now)
    rows = []
    for t, rung in skipped:
        c = cases[t.case_id]
        seq = next_seq[c.id]
        next_seq[c.id] = seq + 1
        reason = late[t.id]
        payload = {"deadline_id": t.deadline_id, "deadline": t.label, "rung": rung.rung, "rung_label": rung.label,
                   "due_at": t.due_at.isoformat() if t.due_at else None, "scheduled_at": t.fire_at.isoformat(),
                   "reason": reason}
        rows.append((c.id, seq, db_now, None, "rung_skipped", c.state, c.state, f"{rung.label}未发送：{reason}",
                     _dumps(payload)))
    _copy(s, "case_events", _EVENT_COLS, rows)


def _fire_bulk(s: Session, due: list, now: datetime, worker: str | None) -> tuple[list[int], dict[str, int]]:
    """Fire the batch's simple rungs set-wise; return (timer ids left for the per-timer path, counts).

    Steps, all in the caller's transaction (inside a savepoint, so any failure undoes them all):
    lock the cases in id order, take each case's event seqs in one bump and read the cases →
    claim the timers (``UPDATE … WHERE status='pending' RETURNING``), cancel stale ones → preload
    recipients → build and ``COPY`` the outbox rows that carry no 文号 → reserve 文号 per (issuer,
    type, year), one counter update each → ``COPY`` the letters, the ``rung_firings`` rows (the
    unique key that makes a rung fire once: a conflict aborts the bulk step) and the events.
    Timers whose case is locked elsewhere (PostgreSQL) are left pending, neither claimed nor
    counted: ``seen`` minus the counts.
    """
    from cases.deadlines import get_policy

    counts = {"fired": 0, "duplicate": 0, "stale": 0}
    policy = get_policy()
    dialect = s.get_bind().dialect.name
    tt = Timer.__table__

    slow: list[int] = []
    fast: list[tuple[Any, Rung | None]] = []
    rungs: dict[tuple[str, str], Rung | None] = {}
    stale_cache: dict[tuple, str | None] = {}
    late: dict[int, str] = {}  # timer id → why its reminder is no longer true (skipped here, not sent)
    for t in due:
        is_open = t.d_status == "open"
        rung = None
        if is_open:
            key = (t.ladder, t.rung)
            if key not in rungs:
                rungs[key] = policy.rung(t.ladder, t.rung)
            rung = rungs[key]
        reason = _late_reminder(rung, t, now, policy, s, stale_cache) \
            if rung is not None and rung.is_reminder_before else None
        if reason is not None:
            late[t.id] = reason
            fast.append((t, rung))
        elif rung is not None and not set(rung.effects) <= BULK_EFFECTS:
            slow.append(t.id)
        else:
            fast.append((t, rung))
    if not fast:
        return slow, counts
    # A rung of a closed case does nothing (closing cancels them; this is the second line of
    # defence): counted as stale below, like a rung whose deadline is no longer open.
    ended = _ended_by_closure(s, [t.case_id for t, rung in fast if t.d_status == "open"],
                              [_DeadlineRef(t.deadline_id, t.case_id, t.key, t.supervision_id)
                               for t, rung in fast if t.d_status == "open"])

    # 1. cases: locked in id order, event seqs reserved, fields read. PostgreSQL: SKIP LOCKED — a
    #    case another worker's batch (or an officer's transaction) holds is left, with its timers,
    #    for a later batch, instead of this batch waiting for that commit: with two workers,
    #    adjacent batches share many cases (a deadline's due-day and overdue rungs are seconds
    #    apart), and waiting made them take turns.
    live_all = [(t, rung) for t, rung in fast if t.d_status == "open" and rung is not None and t.deadline_id not in ended]
    per_case: dict[int, int] = {}
    for t, _ in live_all:
        per_case[t.case_id] = per_case.get(t.case_id, 0) + 1
    cases = _bump_seqs(s, per_case, dialect) if per_case else {}
    live = [(t, rung) for t, rung in live_all if t.case_id in cases]
    next_seq = {cid: c.event_seq - per_case[cid] + 1 for cid, c in cases.items()}
    skipped = [(t, rung) for t, rung in live if t.id in late]
    live = [(t, rung) for t, rung in live if t.id not in late]

    # 2. claim (the rows are ours already: FOR UPDATE in _due_rows on PostgreSQL, the write lock
    #    on SQLite — so every claim must succeed, or the reserved seqs would leave gaps)
    stale_ids = [t.id for t, _ in fast if t.d_status != "open" or t.deadline_id in ended]
    no_rung_ids = [t.id for t, rung in fast if t.d_status == "open" and rung is None and t.deadline_id not in ended]
    claim_ids = [t.id for t, _ in live] + [t.id for t, _ in skipped] + stale_ids + no_rung_ids
    if not claim_ids:
        return slow, counts
    claimed = s.execute(update(tt).where(_in(tt.c.id, claim_ids, dialect), tt.c.status == "pending")
                        .values(status="fired", fired_at=now).returning(tt.c.id)).scalars().all()
    if len(claimed) != len(claim_ids):
        raise RuntimeError(f"{len(claim_ids) - len(claimed)} timer(s) of the batch were claimed elsewhere")
    if stale_ids:
        s.execute(update(tt).where(_in(tt.c.id, stale_ids, dialect)).values(status="cancelled"))
    if no_rung_ids:
        s.execute(update(tt).where(_in(tt.c.id, no_rung_ids, dialect)).values(status="cancelled",
                                                                               last_error="rung not in policy"))
    counts["stale"] += len(stale_ids) + len(no_rung_ids)
    if skipped:
        _skip_bulk(s, skipped, late, cases, next_seq, now, dialect)
        counts["stale"] += len(skipped)
    if not live:
        return slow, counts

    ctx = _BatchContext(s, cases, dialect)

    # 3. plan: messages per firing; 文号 requests per (issuer, type, year)
    settings = get_settings()
    year = to_local(now).year
    plans: dict[tuple, tuple[list[tuple], bool]] = {}
    doc_requests: dict[tuple[str, str, int], int] = {}
    planned = []
    for t, rung in live:
        c = cases[t.case_id]
        key = (t.ladder, rung.rung, t.supervision_id is not None, t.unit == "hour", t.party)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = _plan(rung, t.ladder, key[2], key[3], t.party)
        for _, _, _, doc_type in plan[0]:
            if doc_type:
                dk = (c.jurisdiction_code, doc_type, year)
                doc_requests[dk] = doc_requests.get(dk, 0) + 1
        planned.append((t, rung, c, plan))
    doc_issuer: dict[tuple[str, str, int], tuple[Jurisdiction, str]] = {}
    for dk in doc_requests:
        issuer = ctx.jurisdiction(dk[0])
        doc_issuer[dk] = (issuer, authority_prefix(issuer, settings.doc_number_prefixes))

    # 4. rows. Messages that carry no 文号 first: the outbox rows go in as they are built.
    if dialect == "postgresql":
        db_now, db_time = now, (lambda v: v)
    else:  # executemany bypasses SQLAlchemy's types: store instants as its SQLite DATETIME does
        sa_dialect = s.get_bind().dialect
        proc = tt.c.fired_at.type.dialect_impl(sa_dialect).bind_processor(sa_dialect)
        db_now, db_time = proc(now), proc
    for t, rung, c, (messages, _) in planned:  # fill the caches: no queries while the COPY is open
        ctx.jurisdiction(c.jurisdiction_code)
        for template, roles, urgent, _ in messages:
            ctx.fan_out(c, roles, template, urgent, ctx.listing_code(t.supervision_id))
    today = to_local(now).date()
    firings = []
    with _OutboxRows(s, dialect, now, db_now) as out:
        for t, rung, c, (messages, overdue) in planned:
            j = ctx.jurisdiction(c.jurisdiction_code)
            days_left = (t.due_date - today).days if t.due_date else None
            due_at = t.due_at.isoformat() if t.due_at else None
            variables = {  # = Firing.variables()
                "case_number": c.number, "case_title": c.title, "case_id": c.id, "task": t.label, "deadline_key": t.key,
                "deadline_at": due_at, "due_date": t.due_date.isoformat() if t.due_date else None,
                "deadline_provisional": t.provisional, "days_left": days_left, "overdue_days": max(0, -(days_left or 0)),
                "light": "red" if t.due_at and t.due_at <= now else "yellow", "rung": rung.rung,
                "rung_name": rung.label, "next_measure": next_measure(rung.rung, t.party),
                "issuing_authority": j.authority_name if j else ""}
            cause = f"rung:{t.deadline_id}:{rung.rung}"
            base = _dumps(variables)[:-1]
            n = 0
            letters = []
            for msg in messages:
                template, roles, urgent, doc_type = msg
                if doc_type:
                    letters.append(msg)
                else:
                    n += out.add(cause, c.id, template, ctx.fan_out(c, roles, template, urgent, ctx.listing_code(t.supervision_id)),
                                 base, None, urgent)
            seq = next_seq[c.id]
            next_seq[c.id] = seq + 1
            firings.append((t, rung, c, variables, cause, seq, n, bool(messages), overdue, due_at, letters))

    # 5. 文号, as late as possible: a counter row stays locked until this transaction commits,
    #    and every batch that issues the same authority's letters queues on it.
    doc_next: dict[tuple[str, str, int], int] = {}
    if doc_requests:
        from cases.docnumbers import next_document_serial

        for dk in sorted(doc_requests):
            last = next_document_serial(s, dk[0], dk[1], dk[2], count=doc_requests[dk])
            doc_next[dk] = last - doc_requests[dk] + 1
    # The dates the letters ask for (same for every letter of a type in this batch): read before
    # the COPY below opens.
    dates_of = {doc_type: ladder_dates(s, doc_type, now) for doc_type in {dk[1] for dk in doc_requests}}

    # 6. the letters (documents and their messages), then the firings (the exactly-once key) and
    #    their events
    firing_rows, event_rows, document_rows = [], [], []
    issued_at = now.isoformat()
    with _OutboxRows(s, dialect, now, db_now) as out:
        for t, rung, c, variables, cause, seq, n, has_messages, overdue, due_at, letters in firings:
            effects: dict[str, Any] = {}
            for template, roles, urgent, doc_type in letters:
                dk = (c.jurisdiction_code, doc_type, year)
                serial = doc_next[dk]
                doc_next[dk] = serial + 1
                issuer, prefix = doc_issuer[dk]
                document_no = format_document_number(prefix, doc_type, year, serial)
                # Stored like every other document (rendered to PDF later, linked from the case), with
                # the variables cases.documents.record gives it; its messages carry the same.
                snapshot = {**variables, "doc_number": document_no, "issuing_authority": issuer.authority_name}
                letter = _dumps({k: v for k, v in letter_variables(doc_type, snapshot, dates_of[doc_type],
                                                                   issued_at).items() if v is not None})
                effects.setdefault("documents", []).append({"type": doc_type, "number": document_no})
                document_rows.append((c.id, doc_type, document_no, DOCUMENT_TITLES.get(doc_type, doc_type), issuer.code,
                                      letter, "issued", cause, db_now))
                n += out.add(cause, c.id, template, ctx.fan_out(c, roles, template, urgent, ctx.listing_code(t.supervision_id)),
                             letter[:-1], document_no,
                             urgent)
            if has_messages:
                effects["messages"] = n
            if overdue:
                effects["overdue"] = True
            fx = _dumps(effects)
            firing_rows.append((t.case_id, t.deadline_id, rung.rung, rung.label, db_time(t.fire_at), db_now, worker, fx))
            payload = {"deadline_id": t.deadline_id, "deadline": t.label, "rung": rung.rung, "rung_label": rung.label,
                       "due_at": due_at, "scheduled_at": t.fire_at.isoformat()}
            event_rows.append((c.id, seq, db_now, None, "rung_fired", c.state, c.state, rung.label,
                               _dumps(payload)[:-1] + ', "effects": ' + fx + "}"))
    _copy(s, "documents", _DOCUMENT_COLS, document_rows)
    _copy(s, "rung_firings", _FIRING_COLS, firing_rows)
    _copy(s, "case_events", _EVENT_COLS, event_rows)
    counts["fired"] += len(live)
    return slow, counts


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
