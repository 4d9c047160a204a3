"""Firing due timers: each rung of the ladder does its effects exactly once per case,
deadline and rung — guaranteed by the ``rung_firings`` unique key written in the same
transaction as the effects (events, supervision records, outbox messages).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases import outbox, services
from cases.clock import SHANGHAI, to_local
from cases.config import get_settings
from cases.docnumbers import issue_document_number
from cases.models import Case, Deadline, Jurisdiction, RungFiring, Timer
from state_machines.policies import Rung

log = logging.getLogger("anjian.escalation")
MAX_ATTEMPTS = 5

NEXT_MEASURE = {"remind_before": "逾期预警", "remind_due_day": "逾期预警", "overdue": "挂牌督办",
                "listing": "约谈", "interview": "通报批评", "criticism": "提级", "escalate": "提级督办"}


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
        j = self.session.get(Jurisdiction, self.case.jurisdiction_code)
        return {
            "case_number": self.case.number, "case_title": self.case.title, "case_id": self.case.id,
            "task": d.label, "deadline_key": d.key, "deadline_at": d.due_at.isoformat() if d.due_at else None,
            "due_date": d.due_date.isoformat() if d.due_date else None, "deadline_provisional": d.provisional,
            "days_left": days_left, "overdue_days": max(0, -(days_left or 0)),
            "light": "red" if d.due_at and d.due_at <= self.now else "yellow",
            "rung": self.rung.rung, "rung_name": self.rung.label, "next_measure": NEXT_MEASURE.get(self.rung.rung, ""),
            "issuing_authority": j.authority_name if j else "",
        }


EFFECTS: dict[str, Callable[[Firing], None]] = {}


def rung_effect(fn):
    EFFECTS[fn.__name__] = fn
    return fn


def _urgent(f: Firing) -> bool:
    return f.deadline.unit == "hour"  # accident and D-grade clocks ignore quiet hours


@rung_effect
def remind(f: Firing) -> None:
    roles = [outbox.ASSIGNEE]
    if f.deadline.ladder in ("rectification", "supervision"):
        roles.append(outbox.ENTERPRISE_CONTACT)
    if f.deadline.supervision_id:
        roles = [outbox.AUTHORITY, outbox.ASSIGNEE]
    n = outbox.enqueue(f.session, case=f.case, template="reminder", recipients=outbox.resolve_recipients(f.session, f.case, roles),
                       cause=f.cause, variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n


@rung_effect
def overdue_warning(f: Firing) -> None:
    roles = [outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR]
    if f.deadline.supervision_id:
        roles = [outbox.AUTHORITY, outbox.ASSIGNEE_SUPERVISOR]
    n = outbox.enqueue(f.session, case=f.case, template="overdue_warning",
                       recipients=outbox.resolve_recipients(f.session, f.case, roles), cause=f.cause,
                       variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n
    f.effects["overdue"] = True


def _document(f: Firing, doc_type: str, template: str, roles: list[str], issuer: Jurisdiction, **extra) -> str:
    number = issue_document_number(f.session, issuer, doc_type, to_local(f.now).year, get_settings().doc_number_prefixes)
    variables = {**f.variables(), "doc_number": number, "issuing_authority": issuer.authority_name, **extra}
    n = outbox.enqueue(f.session, case=f.case, template=template, recipients=outbox.resolve_recipients(
        f.session, f.case, roles, listing_jurisdiction_code=extra.get("listing_jurisdiction_code")),
        cause=f.cause, variables=variables, now=f.now, document_no=number)
    f.effects.setdefault("documents", []).append({"type": doc_type, "number": number})
    f.effects["messages"] = f.effects.get("messages", 0) + n
    return number


@rung_effect
def warning_letter(f: Firing) -> None:
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


@rung_effect
def interview(f: Firing) -> None:
    listing = _listing(f)
    when = datetime.combine(to_local(f.now).date() + timedelta(days=3), datetime.min.time().replace(hour=9), tzinfo=SHANGHAI)
    _document(f, "interview_notice", "interview_notice", [outbox.AUTHORITY, outbox.ENTERPRISE_CONTACT], listing,
              interview_at=when.isoformat(), interview_reason=f"{f.case.number} 挂牌督办事项逾期未完成",
              interview_place=listing.authority_name + "会议室", listing_jurisdiction_code=listing.code)


@rung_effect
def criticism(f: Firing) -> None:
    listing = _listing(f)
    supervised = f.session.get(Jurisdiction, f.case.jurisdiction_code)
    _document(f, "public_criticism", "public_criticism", [outbox.AUTHORITY, outbox.LISTING_AUTHORITY], listing,
              criticized_unit=supervised.authority_name, listing_jurisdiction_code=listing.code)


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
    n = outbox.enqueue(f.session, case=f.case, template="escalation_transfer",
                       recipients=outbox.nearest_supervisors(f.session, parent.code)
                       + outbox.resolve_recipients(f.session, f.case, [outbox.ASSIGNEE]),
                       cause=f.cause, variables={**f.variables(), "from_authority": current.authority_name,
                                                 "to_authority": parent.authority_name}, now=f.now)
    f.effects["messages"] = f.effects.get("messages", 0) + n


@rung_effect
def task_due(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="reminder",
                       recipients=outbox.resolve_recipients(f.session, f.case, [outbox.ASSIGNEE]), cause=f.cause,
                       variables=f.variables(), now=f.now)
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


def due_timers(session: Session, now: datetime, limit: int) -> list[Timer]:
    stmt = (select(Timer).where(Timer.status == "pending", Timer.fire_at <= now)
            .order_by(Timer.fire_at, Timer.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        # Several workers each take a different batch; a killed worker's rows unlock on rollback.
        stmt = stmt.with_for_update(skip_locked=True, of=Timer)
    return list(session.scalars(stmt))


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
    rung = get_policy().rung(deadline.ladder, timer.rung)
    if rung is None:
        session.execute(update(Timer).where(Timer.id == timer.id).values(status="cancelled", last_error="rung not in policy"))
        return "stale"
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
    """One transaction: claim up to ``limit`` due timers and fire them (a savepoint each, so one
    bad timer is recorded and skipped instead of blocking the queue).

    ``crash_after`` exists for the crash test: raise after that many timers, before commit.
    """
    counts = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0, "seen": 0}
    errors: list[tuple[int, str]] = []
    with db.transaction() as s:
        timers = due_timers(s, now, limit)
        counts["seen"] = len(timers)
        for i, timer in enumerate(timers):
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


class SimulatedCrash(RuntimeError):
    pass


def fire_all_due(db, now: datetime, *, batch_size: int = 500, worker: str | None = None) -> dict[str, int]:
    total = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0, "batches": 0}
    while True:
        counts = fire_due_batch(db, now, limit=batch_size, worker=worker)
        total["batches"] += 1
        for k in ("fired", "duplicate", "stale", "failed"):
            total[k] += counts[k]
        if counts["seen"] < batch_size or counts["seen"] == counts["failed"]:
            return total
