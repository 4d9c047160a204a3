"""The sweep: due timers claimed and fired exactly once (one by one, or in batches through
cases/clocks/escalation_bulk.py), stale rungs skipped with their reason, a closed case never
escalated. What each rung does is cases/clocks/escalation.py."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.models import Case, Deadline, RungFiring, Timer
from state_machines.policies import Rung
from cases.clocks.escalation import EFFECTS, Firing, MAX_ATTEMPTS, log
from cases.credit.causes import record_rung_firings


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
            from cases.calendar.calendar_store import get_calendar

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
    from cases.clocks.deadlines import get_policy, policy_for

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
    policy = policy_for(deadline, get_policy())  # the ladder of the version the deadline was opened under
    rung = policy.rung(deadline.ladder, timer.rung)
    if rung is None:
        session.execute(update(Timer).where(Timer.id == timer.id).values(status="cancelled", last_error="rung not in policy"))
        return "stale"
    reason = stale_reason(rung, deadline, now, policy, session=session)
    if reason is not None:
        return _skip(session, timer, deadline, session.get(Case, timer.case_id), rung, now, reason)
    firing_id = _claim_firing(session, timer, rung, now, worker)
    if firing_id is None:
        return "duplicate"
    case = session.get(Case, timer.case_id)
    f = Firing(session=session, timer=timer, deadline=deadline, case=case, rung=rung, now=now)
    for name in rung.effects:
        EFFECTS[name](f)
    record_rung_firings(session, [(case.id, deadline.id, deadline.ladder, rung.rung, deadline.key)], now)  # 不良行为记录
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
