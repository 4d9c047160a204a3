"""The bulk firing path: a whole batch of due timers whose rungs only send messages and warning
letters (reminders, overdue warnings, task reminders, 警示函, 督办提醒 — nearly all of them) fired
with a handful of set-based statements. ``cases.clocks.sweep.fire_due_batch`` calls ``_fire_bulk``
first and falls back to the per-timer path (``cases.clocks.sweep.fire_timer``) for the other rungs
and whenever a bulk step fails. Both paths must give the same answer: same recipients
(``ladder_roles``), same staleness rule (``stale_reason``), same closure rule (``_ended_by_closure``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.platform.clock import to_local
from cases.platform.config import get_settings
from cases.issuance.docnumbers import DOCUMENT_TITLES, authority_prefix, format_document_number
from cases.issuance.documents import ladder_dates, letter_variables
from cases.clocks.bulk_recipients import BatchContext
from cases.clocks.bulk_rows import OutboxRows, bump_seqs, copy_rows, dumps
from cases.clocks.escalation import ladder_roles, next_measure
from cases.clocks.sweep import _ended_by_closure, _in, stale_reason
from cases.credit.causes import record_rung_firings
from cases.models import Deadline, Jurisdiction, Timer
from state_machines.policies import Rung

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
                  Deadline.due_date, Deadline.provisional, Deadline.supervision_id, Deadline.unit, Deadline.party,
                  Deadline.policy_version)
_FIRING_COLS = ("case_id", "deadline_id", "rung", "label", "scheduled_at", "fired_at", "worker", "effects")
_EVENT_COLS = ("case_id", "seq", "at", "actor_id", "action", "from_state", "to_state", "comment", "payload")
_DOCUMENT_COLS = ("case_id", "doc_type", "number", "title", "issuing_jurisdiction_code", "variables", "status", "cause",
                  "issued_at")


class _DeadlineRef(NamedTuple):
    id: int
    case_id: int
    key: str
    supervision_id: int | None


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


def _late_reminder(rung: Rung, t: Any, now: datetime, policy: Any, s: Session,
                   cache: dict[tuple, str | None]) -> str | None:
    """``stale_reason`` for a bulk row (cached per ladder, rung and due instant: a batch's rows share few)."""
    if t.due_at is None:
        return None
    key = (policy.version, t.ladder, rung.rung, t.due_at, t.due_date, t.unit)
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
                     dumps(payload)))
    copy_rows(s, "case_events", _EVENT_COLS, rows)


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
    from cases.clocks.deadlines import get_policy, policy_for

    counts = {"fired": 0, "duplicate": 0, "stale": 0}
    latest = get_policy()
    dialect = s.get_bind().dialect.name
    tt = Timer.__table__

    slow: list[int] = []
    fast: list[tuple[Any, Rung | None]] = []
    rungs: dict[tuple[int, str, str], Rung | None] = {}
    stale_cache: dict[tuple, str | None] = {}
    late: dict[int, str] = {}  # timer id → why its reminder is no longer true (skipped here, not sent)
    for t in due:
        is_open = t.d_status == "open"
        rung = None
        policy = policy_for(t, latest)  # the ladder of the version the deadline was opened under
        if is_open:
            key = (policy.version, t.ladder, t.rung)
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
    cases = bump_seqs(s, per_case, dialect) if per_case else {}
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

    ctx = BatchContext(s, cases, dialect)

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
    with OutboxRows(s, dialect, now, db_now) as out:
        for t, rung, c, (messages, overdue) in planned:
            j = ctx.jurisdiction(c.jurisdiction_code)
            days_left = (t.due_date - today).days if t.due_date else None
            due_at = t.due_at.isoformat() if t.due_at else None
            variables = {  # = Firing.variables()
                "case_number": c.number, "case_title": c.title, "case_id": c.id, "task": t.label, "deadline_key": t.key,
                "deadline_at": due_at, "due_date": t.due_date.isoformat() if t.due_date else None,
                "deadline_provisional": t.provisional, "days_left": days_left, "overdue_days": max(0, -(days_left or 0)),
                "light": "red" if t.due_at and t.due_at <= now else "yellow", "rung": rung.rung,
                "rung_name": rung.label, "next_measure": next_measure(rung.rung, t.party, t.ladder),
                "issuing_authority": j.authority_name if j else ""}
            cause = f"rung:{t.deadline_id}:{rung.rung}"
            base = dumps(variables)[:-1]
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
        from cases.issuance.docnumbers import next_document_serial

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
    with OutboxRows(s, dialect, now, db_now) as out:
        for t, rung, c, variables, cause, seq, n, has_messages, overdue, due_at, letters in firings:
            effects: dict[str, Any] = {}
            for template, roles, urgent, doc_type in letters:
                dk = (c.jurisdiction_code, doc_type, year)
                serial = doc_next[dk]
                doc_next[dk] = serial + 1
                issuer, prefix = doc_issuer[dk]
                document_no = format_document_number(prefix, doc_type, year, serial)
                # Stored like every other document (rendered to PDF later, linked from the case), with
                # the variables cases.issuance.documents.record gives it; its messages carry the same.
                snapshot = {**variables, "doc_number": document_no, "issuing_authority": issuer.authority_name}
                letter = dumps({k: v for k, v in letter_variables(doc_type, snapshot, dates_of[doc_type],
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
            fx = dumps(effects)
            firing_rows.append((t.case_id, t.deadline_id, rung.rung, rung.label, db_time(t.fire_at), db_now, worker, fx))
            payload = {"deadline_id": t.deadline_id, "deadline": t.label, "rung": rung.rung, "rung_label": rung.label,
                       "due_at": due_at, "scheduled_at": t.fire_at.isoformat()}
            event_rows.append((c.id, seq, db_now, None, "rung_fired", c.state, c.state, rung.label,
                               dumps(payload)[:-1] + ', "effects": ' + fx + "}"))
    copy_rows(s, "documents", _DOCUMENT_COLS, document_rows)
    copy_rows(s, "rung_firings", _FIRING_COLS, firing_rows)
    copy_rows(s, "case_events", _EVENT_COLS, event_rows)
    record_rung_firings(s, [(t.case_id, t.deadline_id, t.ladder, rung.rung, t.key) for t, rung in live], now)  # 不良行为记录
    counts["fired"] += len(live)
    return slow, counts
