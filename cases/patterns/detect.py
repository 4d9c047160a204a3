"""The repeat-offender pass of the sweep (workflows/passes.py ``sweep_pass``; the lanes' one-row check
is :func:`due_check`).

**Why the sweep, not the triggering action.** One of the two patterns' events — a 整改期限 falling due
without the rectification reported — happens to nobody: no request is made at that instant, only the
clock passes it. The sweep is where the clock is looked at, so both patterns are detected in one
place, by one code path, and the officers' actions stay as fast as they are. A registration is
flagged at the next sweep (the lanes run one whenever :func:`due_check` sees a new event).

**Semantics (policy data, state_machines/policies/patterns-v1.yaml).** Each pattern counts one sort
of event per enterprise (``event``) over windows ``{days, count}``. An event *triggers* a flag under a
window when the events of the enterprise in the ``days`` days ending at it (it included) that no
earlier flag of the same enterprise, pattern and window counted reach ``count``. So every event is
behind at most one flag per window: the 3rd 重大事故隐患 in 180 days raises the 180-day flag (three
cases); a 4th within the year raises the 365-day flag (four cases) but not a second 180-day flag
(only one fresh event there); three more fresh ones within 180 days raise the next 180-day flag.

**Exactly once.** A flag is unique per (enterprise, pattern, window, trigger_key) — the triggering
event's own key (``event:<case_events.id>``, ``deadline:<deadlines.id>``). It is inserted with ON
CONFLICT DO NOTHING and only the transaction that inserted it writes its trail row and its messages
(outbox ``dedupe_key`` cause ``pattern:<flag id>``): a second or concurrent run finds the row and
sends nothing. The scan watermark (``pattern_scan_state``) only bounds the work: candidates are the
events after it (less a slack for commits that landed late), and rescanning is harmless.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.models import Case, Enterprise, Jurisdiction
from cases.models.patterns import PatternScanState, RepeatOffenderFlag, RepeatOffenderFlagEvent
from cases.reads.repeat_offenders import EVENTS, patterns, policy_version

log = logging.getLogger("anjian.patterns")
SLACK = timedelta(hours=1)  # events committed with an instant a little before the watermark
TEMPLATE = "repeat_offender_flag"


def cn_date(at: datetime) -> str:
    from cases.clocks.legal_time import shanghai_date

    d = shanghai_date(at)
    return f"{d.year}年{d.month}月{d.day}日"


def _longest() -> int:
    return max(days for p in patterns().values() for days, _ in p["windows"])


def _insert(session: Session, row: dict[str, Any]) -> int | None:
    insert_fn = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return session.execute(insert_fn(RepeatOffenderFlag).values(row).on_conflict_do_nothing(
        index_elements=["enterprise_id", "pattern", "window_days", "trigger_key"])
        .returning(RepeatOffenderFlag.id)).scalar()


def _counted(session: Session, unit: int, pattern: str) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for days, events in session.execute(select(RepeatOffenderFlag.window_days, RepeatOffenderFlag.events).where(
            RepeatOffenderFlag.enterprise_id == unit, RepeatOffenderFlag.pattern == pattern)):
        out.setdefault(days, set()).update(e["key"] for e in events or ())
    return out


def window_text(days: int, count: int) -> str:
    return f"{days}日内{count}次"


def scan(session: Session, now: datetime) -> dict[str, int]:
    """Find and record the flags triggered by events up to ``now``, in the caller's transaction."""
    state = session.get(PatternScanState, 1)
    longest = timedelta(days=_longest())
    since = state.scanned_to - SLACK if state is not None else now - longest
    version = policy_version()
    counts = {"pattern_flags": 0, "pattern_messages": 0}
    for name, p in patterns().items():
        query = EVENTS[p["event"]]
        candidates = session.execute(query(None, since, now)).all()
        if not candidates:
            continue
        units = sorted({c[0] for c in candidates})
        first = min(c[1] for c in candidates)
        events = session.execute(query(None, first - longest, now).where(Case.enterprise_id.in_(units))).all()
        by_unit: dict[int, list] = {}
        for e in sorted(events, key=lambda e: (e[1], e[4])):
            by_unit.setdefault(e[0], []).append(e)
        cand_keys = {c[4] for c in candidates}
        for unit in units:
            counted = _counted(session, unit, name)
            for trig in by_unit.get(unit, []):
                if trig[4] not in cand_keys:
                    continue
                for days, count in p["windows"]:
                    seen = counted.setdefault(days, set())
                    if trig[4] in seen:
                        continue
                    start = trig[1] - timedelta(days=days)
                    inside = [e for e in by_unit[unit] if start <= e[1] <= trig[1] and e[4] not in seen]
                    if len(inside) < count:
                        continue
                    seen.update(e[4] for e in inside)
                    row = {"enterprise_id": unit, "pattern": name, "policy_version": version, "window_days": days,
                           "threshold": count, "trigger_key": trig[4], "trigger_case_id": trig[2],
                           "triggered_at": trig[1], "jurisdiction_code": trig[6], "label": p["label"],
                           "basis": p["basis"], "proposal": p["proposal"], "flagged_at": now, "status": "open",
                           "events": [{"key": e[4], "case_id": e[2], "number": e[3], "title": e[5],
                                       "at": e[1].isoformat()} for e in inside]}
                    flag_id = _insert(session, row)
                    if flag_id is None:
                        continue  # another run recorded it: it also sent its messages
                    counts["pattern_flags"] += 1
                    session.add(RepeatOffenderFlagEvent(flag_id=flag_id, action="flagged", at=now))
                    counts["pattern_messages"] += notify(session, flag_id, now)
    if state is None:
        session.add(PatternScanState(id=1, scanned_to=now))
    elif now > state.scanned_to:
        state.scanned_to = now
    session.flush()
    return counts


def notify(session: Session, flag_id: int, now: datetime) -> int:
    """The flag's message to the supervisors of its jurisdiction (else the nearest above)."""
    flag = session.get(RepeatOffenderFlag, flag_id)
    unit = session.get(Enterprise, flag.enterprise_id)
    authority = session.get(Jurisdiction, flag.jurisdiction_code)
    recipients = outbox.nearest_supervisors(session, flag.jurisdiction_code)
    return outbox.enqueue(session, case=None, template=TEMPLATE, cause=f"pattern:{flag.id}", now=now,
                          recipients=recipients, variables=message_variables(flag, unit, authority))


def message_variables(flag: RepeatOffenderFlag, unit: Enterprise, authority: Jurisdiction | None) -> dict[str, Any]:
    return {
        "enterprise_name": unit.name, "enterprise_credit_code": unit.credit_code,
        "pattern_label": flag.label, "legal_basis": flag.basis, "proposal": flag.proposal,
        "window_text": f"{window_text(flag.window_days, len(flag.events))}（达到{window_text(flag.window_days, flag.threshold)}）",
        "flagged_cases": [{"case_number": e["number"], "case_title": e["title"],
                           "event_date": cn_date(datetime.fromisoformat(e["at"]))} for e in flag.events],
        "issuing_authority": authority.authority_name if authority is not None else flag.jurisdiction_code,
        "dashboard_url": f"/cockpit/repeat-offenders#flag-{flag.id}",
        "flag_id": flag.id,
    }


def sweep(db, now: datetime) -> dict[str, int]:
    """One transaction of :func:`scan`, for the sweep; never fails the sweep (what is not flagged now
    is flagged by the next one)."""
    try:
        with db.transaction() as s:
            return scan(s, now)
    except Exception:  # noqa: BLE001
        log.warning("sweep: the repeat-offender pass failed; the next sweep tries again", exc_info=True)
        return {"pattern_failed": 1}


def work_due(session: Session, now: datetime) -> bool:
    """An event of some pattern after the watermark (never scanned: within the longest window)."""
    state = session.get(PatternScanState, 1)
    after = (state.scanned_to if state is not None else now - timedelta(days=_longest())) + timedelta(microseconds=1)
    for p in patterns().values():
        if session.execute(EVENTS[p["event"]](None, after, now).limit(1)).first():
            return True
    return False


def due_check(db, now: datetime) -> bool:
    """The sweep lane's check (workflows/loop.py)."""
    with db.session() as s:
        return work_due(s, now)
