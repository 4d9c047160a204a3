"""Firing due timers: each rung of the ladder does its effects exactly once per case,
deadline and rung — guaranteed by the ``rung_firings`` unique key written in the same
transaction as the effects (events, supervision records, outbox messages).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

from sqlalchemy import JSON, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases import outbox, services
from cases.clock import SHANGHAI, to_local
from cases.config import get_settings
from cases.docnumbers import authority_prefix, format_document_number, issue_document_number
from cases.models import Case, CaseEvent, Deadline, Jurisdiction, OutboxMessage, RungFiring, Timer
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
        ctx = getattr(self, "_ctx", None)
        j = ctx.jurisdiction(self.case.jurisdiction_code) if ctx else self.session.get(Jurisdiction, self.case.jurisdiction_code)
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
    """One transaction: claim up to ``limit`` due timers and fire them.

    Rungs whose effects are messages and warning letters (reminders, overdue warnings, task
    reminders: nearly all of them) go through the bulk path — a few set-based statements for the
    whole batch, see ``_fire_bulk``. The others (listing, interview, criticism, 提级) and, if a bulk
    step fails, the whole batch fall back to the per-timer path: a savepoint each, so one bad
    timer is recorded and skipped instead of blocking the queue. Exactly once either way: the
    ``pending → fired`` claim and the ``rung_firings`` unique key.

    ``crash_after`` exists for the crash test: raise after that many timers, before commit (the
    per-timer path is used then, so "after that many" means what it says).
    """
    counts = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0, "seen": 0}
    errors: list[tuple[int, str]] = []
    with db.transaction() as s:
        timers = due_timers(s, now, limit)
        counts["seen"] = len(timers)
        slow = timers
        if crash_after is None and timers:
            try:
                with s.begin_nested():
                    slow, bulk_counts = _fire_bulk(s, timers, now, worker)
                for k, v in bulk_counts.items():
                    counts[k] += v
            except Exception:  # e.g. an effect that cannot be done in bulk: redo one by one
                log.exception("bulk firing of %d timers failed; falling back to one savepoint per timer", len(timers))
                slow = timers
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

# Effects the bulk path knows how to do set-wise; a rung with any other effect fires one by one.
BULK_EFFECTS = {"remind", "overdue_warning", "task_due", "warning_letter"}


def _chunks(items: list, n: int = 900):
    for i in range(0, len(items), n):
        yield items[i:i + n]


class _BatchContext:
    """Per-batch caches: jurisdictions, users, recipients and channels (a few queries per batch)."""

    def __init__(self, session: Session, cases: dict[int, Case]) -> None:
        from cases.models import User

        self.s = session
        self.jurisdictions: dict[str, Jurisdiction | None] = {}
        self.users: dict[int, User] = {}
        ids = {c.assignee_id for c in cases.values() if c.assignee_id}
        for chunk in _chunks(sorted(ids)):
            for u in session.scalars(select(User).where(User.id.in_(chunk))):
                self.users[u.id] = u
        sup_ids = {u.supervisor_id for u in self.users.values() if u.supervisor_id} - set(self.users)
        for chunk in _chunks(sorted(sup_ids)):
            for u in session.scalars(select(User).where(User.id.in_(chunk))):
                self.users[u.id] = u
        self.contacts: dict[int, list[User]] = {}
        ents = sorted({c.enterprise_id for c in cases.values() if c.enterprise_id})
        for chunk in _chunks(ents):
            for u in session.scalars(select(User).where(User.enterprise_id.in_(chunk), User.role == "enterprise",
                                                        User.active.is_(True)).order_by(User.id)):
                self.contacts.setdefault(u.enterprise_id, []).append(u)
        self.authority: dict[str, list[User]] = {}
        self.nearest: dict[str, list[User]] = {}
        self.channels: dict[tuple[int, str, bool], list[str]] = {}

    def jurisdiction(self, code: str) -> Jurisdiction | None:
        if code not in self.jurisdictions:
            self.jurisdictions[code] = self.s.get(Jurisdiction, code)
        return self.jurisdictions[code]

    def user(self, user_id: int):
        from cases.models import User

        if user_id not in self.users:
            self.users[user_id] = self.s.get(User, user_id)
        return self.users[user_id]

    def recipients(self, case: Case, roles: list[str]) -> list:
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
        return list(out.values())

    def channels_for(self, user, template: str, urgent: bool) -> list[str]:
        key = (user.id, template, urgent)
        if key not in self.channels:
            self.channels[key] = outbox.channels_for(self.s, user, template, urgent)
        return self.channels[key]


def _jsonable(v):
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def _bulk_insert(conn, table, rows: list[dict], *, conflict: list[str], returning: list, dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING for many rows.

    PostgreSQL: one statement whose only parameter is the rows as a JSON array
    (``json_to_recordset``) — the statement text stays small and cached, where a multi-VALUES
    insert costs more in building and parsing the SQL than in the database. SQLite: executemany.
    """
    if not rows:
        return []
    if dialect != "postgresql":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict).returning(*returning)
        return conn.execute(stmt, rows).all()
    cols = list(rows[0])
    typed = ", ".join(f'"{c}" {"json" if isinstance(table.c[c].type, JSON) else table.c[c].type.compile(conn.dialect)}'
                      for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    sql = (f'INSERT INTO {table.name} ({names}) SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) AS x({typed}) '
           f'ON CONFLICT ({", ".join(conflict)}) DO NOTHING RETURNING {", ".join(c.name for c in returning)}')
    payload = json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows], ensure_ascii=False)
    return conn.execute(text(sql), {"rows": payload}).all()


def _fire_bulk(s: Session, timers: list[Timer], now: datetime, worker: str | None) -> tuple[list[Timer], dict[str, int]]:
    """Fire the batch's simple rungs set-wise; return (timers left for the per-timer path, counts).

    Steps, all in the caller's transaction (inside a savepoint, so any failure undoes them all):
    preload deadlines → claim timers (``UPDATE … WHERE status='pending' RETURNING``) → cancel stale
    ones → insert ``rung_firings`` ``ON CONFLICT DO NOTHING RETURNING`` (the exactly-once key) →
    preload cases and recipients → lock the cases in id order and take each case's event seqs in
    one bump → reserve 文号 per (issuer, type, year) in one counter update each → insert events
    and outbox rows in bulk.
    """
    from cases.deadlines import get_policy

    counts = {"fired": 0, "duplicate": 0, "stale": 0}
    policy = get_policy()
    dialect = s.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    conn = s.connection()

    deadlines: dict[int, Deadline] = {}
    for chunk in _chunks(sorted({t.deadline_id for t in timers})):
        for d in s.scalars(select(Deadline).where(Deadline.id.in_(chunk))):
            deadlines[d.id] = d

    slow: list[Timer] = []
    fast: list[tuple[Timer, Rung]] = []
    for t in timers:
        d = deadlines.get(t.deadline_id)
        rung = policy.rung(d.ladder, t.rung) if d is not None and d.status == "open" else None
        if d is not None and d.status == "open" and rung is not None and not set(rung.effects) <= BULK_EFFECTS:
            slow.append(t)
        else:
            fast.append((t, rung))
    if not fast:
        return slow, counts

    # 1. claim
    claimed: set[int] = set()
    for chunk in _chunks([t.id for t, _ in fast]):
        claimed.update(s.scalars(update(Timer).where(Timer.id.in_(chunk), Timer.status == "pending")
                                 .values(status="fired", fired_at=now).returning(Timer.id)
                                 .execution_options(synchronize_session=False)))
    counts["duplicate"] += sum(1 for t, _ in fast if t.id not in claimed)
    live: list[tuple[Timer, Rung]] = []
    stale_ids, no_rung_ids = [], []
    for t, rung in fast:
        if t.id not in claimed:
            continue
        d = deadlines.get(t.deadline_id)
        if d is None or d.status != "open":
            stale_ids.append(t.id)
        elif rung is None:
            no_rung_ids.append(t.id)
        else:
            live.append((t, rung))
    for chunk in _chunks(stale_ids):
        s.execute(update(Timer).where(Timer.id.in_(chunk)).values(status="cancelled")
                  .execution_options(synchronize_session=False))
    for chunk in _chunks(no_rung_ids):
        s.execute(update(Timer).where(Timer.id.in_(chunk)).values(status="cancelled", last_error="rung not in policy")
                  .execution_options(synchronize_session=False))
    counts["stale"] += len(stale_ids) + len(no_rung_ids)
    if not live:
        return slow, counts

    # 2. preload cases and recipients; plan the effects
    cases: dict[int, Case] = {}
    for chunk in _chunks(sorted({t.case_id for t, _ in live})):
        for c in s.scalars(select(Case).where(Case.id.in_(chunk))):
            cases[c.id] = c
    ctx = _BatchContext(s, cases)
    settings = get_settings()
    year = to_local(now).year
    plans = []
    doc_requests: dict[tuple[str, str, int], int] = {}
    for t, rung in live:
        d, c = deadlines[t.deadline_id], cases[t.case_id]
        f = Firing(session=s, timer=t, deadline=d, case=c, rung=rung, now=now)
        f._ctx = ctx  # variables() uses the cached jurisdiction
        messages = []  # (template, roles, doc)
        for name in rung.effects:
            if name == "remind":
                roles = [outbox.ASSIGNEE]
                if d.ladder in ("rectification", "supervision"):
                    roles.append(outbox.ENTERPRISE_CONTACT)
                if d.supervision_id:
                    roles = [outbox.AUTHORITY, outbox.ASSIGNEE]
                messages.append(("reminder", roles, _urgent(f), None))
            elif name == "overdue_warning":
                roles = [outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR]
                if d.supervision_id:
                    roles = [outbox.AUTHORITY, outbox.ASSIGNEE_SUPERVISOR]
                messages.append(("overdue_warning", roles, _urgent(f), None))
                f.effects["overdue"] = True
            elif name == "task_due":
                messages.append(("reminder", [outbox.ASSIGNEE], False, None))
            elif name == "warning_letter":
                issuer = ctx.jurisdiction(c.jurisdiction_code)
                key = (issuer.code, "warning_letter", year)
                doc_requests[key] = doc_requests.get(key, 0) + 1
                messages.append(("warning_letter", [outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE], False, key))
        plans.append((f, messages))

    # 3. the exactly-once key
    firing_rows = [{"case_id": f.timer.case_id, "deadline_id": f.timer.deadline_id, "rung": f.timer.rung,
                    "label": f.rung.label, "scheduled_at": f.timer.fire_at, "fired_at": now, "worker": worker,
                    "effects": {}} for f, _ in plans]
    firing_ids: dict[tuple[int, str], int] = {}
    # executemany (insertmanyvalues): one cached statement, rows sent in pages.
    rf = RungFiring.__table__
    for row in _bulk_insert(conn, rf, firing_rows, conflict=["deadline_id", "rung"],
                            returning=[rf.c.id, rf.c.deadline_id, rf.c.rung], dialect=dialect):
        firing_ids[(row.deadline_id, row.rung)] = row.id
    winners = [(f, m) for f, m in plans if (f.timer.deadline_id, f.timer.rung) in firing_ids]
    counts["duplicate"] += len(plans) - len(winners)
    if not winners:
        return slow, counts

    # 4. lock the cases in id order (no deadlock between workers), then reserve document numbers
    per_case: dict[int, int] = {}
    for f, _ in winners:
        per_case[f.case.id] = per_case.get(f.case.id, 0) + 1
    case_ids = sorted(per_case)
    if dialect == "postgresql":
        for chunk in _chunks(case_ids):
            s.execute(select(Case.id).where(Case.id.in_(chunk)).order_by(Case.id).with_for_update(key_share=True))
    by_k: dict[int, list[int]] = {}
    for cid, k in per_case.items():
        by_k.setdefault(k, []).append(cid)
    last_seq: dict[int, int] = {}
    for k, ids in sorted(by_k.items()):
        for chunk in _chunks(sorted(ids)):
            for cid, seq in s.execute(update(Case).where(Case.id.in_(chunk)).values(event_seq=Case.event_seq + k)
                                      .returning(Case.id, Case.event_seq).execution_options(synchronize_session=False)):
                last_seq[cid] = seq
    next_seq = {cid: last_seq[cid] - per_case[cid] + 1 for cid in per_case}

    # Only winners need numbers; recount the requests for them.
    doc_requests = {}
    for f, messages in winners:
        for _, _, _, key in messages:
            if key:
                doc_requests[key] = doc_requests.get(key, 0) + 1
    doc_next: dict[tuple[str, str, int], int] = {}
    for key in sorted(doc_requests):
        from cases.docnumbers import next_document_serial
        last = next_document_serial(s, key[0], key[1], key[2], count=doc_requests[key])
        doc_next[key] = last - doc_requests[key] + 1

    # 5. effects: outbox rows, events
    outbox_rows = []
    cause_rows: dict[str, int] = {}
    for f, messages in winners:
        base_vars = f.variables()
        for template, roles, urgent, key in messages:
            variables, document_no = base_vars, None
            if key:
                serial = doc_next[key]
                doc_next[key] += 1
                issuer = ctx.jurisdiction(key[0])
                document_no = format_document_number(authority_prefix(issuer, settings.doc_number_prefixes),
                                                     key[1], key[2], serial)
                variables = {**base_vars, "doc_number": document_no, "issuing_authority": issuer.authority_name}
                f.effects.setdefault("documents", []).append({"type": key[1], "number": document_no})
            n = 0
            for user in ctx.recipients(f.case, roles):
                for channel in ctx.channels_for(user, template, urgent):
                    outbox_rows.append({
                        "dedupe_key": f"{f.cause}:{template}:{user.id}:{channel}", "case_id": f.case.id,
                        "template": template, "recipient_user_id": user.id,
                        "recipient_address": user.email if channel == "email" else None, "channel": channel,
                        "variables": {**variables, "recipient_name": user.display_name}, "document_no": document_no,
                        "urgent": urgent, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now})
                    n += 1
            f.effects["messages"] = f.effects.get("messages", 0) + n
            cause_rows[f.cause] = cause_rows.get(f.cause, 0) + n
    inserted: dict[str, int] = {}
    ob = OutboxMessage.__table__
    if outbox_rows:
        keys = [r[0] for r in _bulk_insert(conn, ob, outbox_rows, conflict=["dedupe_key"], returning=[ob.c.dedupe_key],
                                           dialect=dialect)]
    else:
        keys = []
    for key in keys:
        if True:
            cause = key.split(":", 3)
            cause = ":".join(cause[:3])
            inserted[cause] = inserted.get(cause, 0) + 1
    for f, _ in winners:  # a row that existed already (a re-fired cause) is not a message sent
        if "messages" in f.effects and inserted.get(f.cause, 0) != cause_rows.get(f.cause, 0):
            f.effects["messages"] -= cause_rows[f.cause] - inserted.get(f.cause, 0)

    event_rows = []
    for f, _ in winners:
        d, t, rung = f.deadline, f.timer, f.rung
        seq = next_seq[f.case.id]
        next_seq[f.case.id] += 1
        event_rows.append({"case_id": f.case.id, "seq": seq, "at": now, "actor_id": None, "action": "rung_fired",
                           "from_state": f.case.state, "to_state": f.case.state, "comment": rung.label, "payload": {
                               "deadline_id": d.id, "deadline": d.label, "rung": rung.rung, "rung_label": rung.label,
                               "due_at": d.due_at.isoformat() if d.due_at else None,
                               "scheduled_at": t.fire_at.isoformat(), "effects": f.effects}})
    ev = CaseEvent.__table__
    _bulk_insert(conn, ev, event_rows, conflict=["case_id", "seq"], returning=[ev.c.id], dialect=dialect)
    fx = [{"fid": firing_ids[(f.timer.deadline_id, f.timer.rung)], "fx": f.effects} for f, _ in winners]
    if dialect == "postgresql":
        conn.execute(text("UPDATE rung_firings SET effects = x.fx FROM json_to_recordset(CAST(:rows AS json)) "
                          "AS x(fid bigint, fx json) WHERE rung_firings.id = x.fid"),
                     {"rows": json.dumps(fx, ensure_ascii=False)})
    else:
        conn.execute(update(RungFiring.__table__).where(RungFiring.__table__.c.id == bindparam("fid"))
                     .values(effects=bindparam("fx")), fx)
    counts["fired"] += len(winners)
    return slow, counts


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
