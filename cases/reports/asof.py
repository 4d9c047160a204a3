"""Periodic statistics as of a cut-off instant, computed from the event log (docs/reports.md).

Every figure is a function of (jurisdiction subtree, period, cut-off ``T``) and of what had been
*recorded* by ``T``: the case events with ``at <= T`` (``at`` is the instant the event was written,
never a user-supplied business date), the deadline rows created by ``T`` read only through their
write-once columns, the inspection records created by ``T``. Later events — a back-dated
correction, a reopening, 提级, a re-grade — have ``at > T`` and do not move the figures; re-running
a report with the same cut-off gives the same figures. ``explain`` lists those later events.

What a case *was* at ``T`` is replayed from its events (``replay``): kind (``create`` payload, then
``reclassified``), state (``to_state``), jurisdiction (``origin_jurisdiction_code``, then
``escalated``: 提级 by grade or by the ladder), found date (the create event's ``found_at``), closing
instant (the last entry into a final state of its machine), the accident's facts (死亡/重伤/轻伤/
直接经济损失 from the create and action values; the grade by ``accident_grade`` on them, as
``grade_accident`` does), the listings (``listed`` / ``supervision_lifted``).

A clock's verdict as of ``T`` (rectification and overdue): the rows ``deadlines`` with
``created_at <= T``. A clock closed by ``T`` (``closed_at <= T``) is final: its status, closed_at and
due_at never change after closing, so the row says it. A clock still open at ``T`` is open *as of T*
whatever the row says now, and its due instant is the last one the event log recorded by ``T`` for
that deadline id (each opening, extension, pause, resumption and calendar recomputation writes the
clock's summary with its id and due_at into the event payload).

Credit (definitions version 2, ``_credit``): the 不良行为记录 an authority of the row recorded in the
period (``recorded_at``), with their points as of ``T`` — the last ``points_after`` of their own
event trail by ``T`` (recorded, regraded, corrected; withdrawn is 0), never the row's current points —
and how many of them had been appealed and withdrawn by ``T``; the 曝光/黑名单 listings made in the
period and those lifted in it (``listed_at``, ``lifted_at`` are written once).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger.accident import accident_grade
from cases.ledger.engine import get_registry
from cases.models import Case, CaseEvent, CreditListing, CreditRecord, CreditRecordEvent, Deadline, Inspection
from cases.platform.clock import to_local
from cases.reads.case_lists import day_start
from cases.reads.stats import RECTIFICATION_KEY, Subtree

DEFINITIONS_VERSION = 2  # 2: the credit section
CREDIT_FIGURES = ("records", "points", "appealed", "withdrawn", "exposure_listed", "blacklist_listed",
                  "exposure_lifted", "blacklist_lifted")
KINDS = ("hazard", "major_hazard", "accident", "dangerous_building", "dangerous_occurrence", "self_hazard")
GRADES = ("especially_major", "major", "larger", "ordinary", "none")
FACTS = ("deaths", "serious_injuries", "minor_injuries", "direct_loss")
KIND_FIGURES = ("new", "closed", "open_end", "overdue", "rect_due", "rect_on_time")


def utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _instant(value: Any) -> datetime | None:
    return utc(datetime.fromisoformat(value)) if isinstance(value, str) and value else None


@dataclass
class CaseAsOf:
    id: int
    kind: str | None = None
    version: int | None = None
    state: str | None = None
    final: bool = False
    jurisdiction: str | None = None
    created_at: datetime | None = None
    found_on: date | None = None
    occurred_on: date | None = None
    closed_at: datetime | None = None
    state_at_end: str | None = None
    final_at_end: bool = False
    existed_at_end: bool = False
    facts: dict[str, float] = field(default_factory=dict)
    listings: dict[int, dict[str, Any]] = field(default_factory=dict)  # supervision id → reason, listed_at, lifted_at
    clock_due: dict[int, tuple[datetime | None, date | None]] = field(default_factory=dict)


def _is_final(kind: str | None, version: int | None, state: str | None) -> bool:
    if not kind or state is None:
        return False
    try:
        st = get_registry().get(kind, version).state(state)
    except Exception:  # an unknown version: the latest machine of the kind names its states too
        st = get_registry().latest(kind).state(state)
    return bool(st and st.final)


def _summaries(payload: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The clock summaries an event recorded (``deadline_summary``: id, due_at, due_date)."""
    for item in payload.get("deadlines") or []:
        if isinstance(item, dict) and "id" in item and "due_at" in item:
            yield item
    for key in ("deadline", "decision_deadline"):
        item = payload.get(key)
        if isinstance(item, dict) and "id" in item and "due_at" in item:
            yield item


def replay(c: CaseAsOf, events: Iterable[Any], end: datetime) -> CaseAsOf:
    """Fold a case's events (``at <= T``, in seq order) into what it was at ``T``; ``end``: the
    instant the period ends (its state then, or at ``T`` if earlier, is the 期末在办 figure)."""
    for e in events:
        at = utc(e.at)
        p = e.payload or {}
        values = p.get("values") or {}
        if e.action == "create":
            c.kind, c.version = p.get("kind"), p.get("machine_version")
            c.created_at = at
            found = _instant(values.get("found_at")) or at
            c.found_on = to_local(found).date()
            occurred = _instant(values.get("occurred_at"))
            c.occurred_on = to_local(occurred).date() if occurred else c.found_on
        reclassified = p.get("reclassified")
        if reclassified:
            c.kind, c.version = reclassified.get("to"), reclassified.get("machine_version")
        if e.action == "escalated" and p.get("to"):
            c.jurisdiction = p["to"]
        elif isinstance(p.get("escalated"), dict) and p["escalated"].get("to"):
            c.jurisdiction = p["escalated"]["to"]
        for name in FACTS:
            if values.get(name) is not None:
                c.facts[name] = float(values[name])
        if e.to_state is not None:
            was_final = c.final
            c.state = e.to_state
            c.final = _is_final(c.kind, c.version, c.state)
            if c.final and not was_final:
                c.closed_at = at
            elif not c.final:
                c.closed_at = None
        if e.action == "listed" and p.get("supervision_id"):
            c.listings[int(p["supervision_id"])] = {"reason": p.get("reason"), "listed_at": at, "lifted_at": None}
        if e.action == "supervision_lifted" and p.get("supervision_id") in c.listings:
            c.listings[p["supervision_id"]]["lifted_at"] = at
        for s in _summaries(p):
            c.clock_due[int(s["id"])] = (_instant(s.get("due_at")),
                                         date.fromisoformat(s["due_date"]) if s.get("due_date") else None)
        if at < end:
            c.existed_at_end = True
            c.state_at_end, c.final_at_end = c.state, c.final
    return c


def grade_of(facts: dict[str, float]) -> str:
    if not any(k in facts for k in ("deaths", "serious_injuries", "direct_loss")):
        return "none"
    return accident_grade(int(facts.get("deaths", 0)), int(facts.get("serious_injuries", 0)),
                          float(facts.get("direct_loss", 0))) or "none"


def empty_figures() -> dict[str, Any]:
    return {"kinds": {k: {f: 0 for f in KIND_FIGURES} for k in KINDS},
            "all": {f: 0 for f in KIND_FIGURES},
            "accidents": {g: {"count": 0, "deaths": 0, "serious_injuries": 0, "minor_injuries": 0, "direct_loss": 0.0}
                          for g in GRADES},
            "supervision": {"listed": 0, "lifted": 0, "listed_major_hazard": 0, "lifted_major_hazard": 0},
            "inspections": {"count": 0, "unannounced": 0, "campaign": 0},
            "credit": {f: 0 for f in CREDIT_FIGURES}}


def finish(fig: dict[str, Any]) -> dict[str, Any]:
    """Add the rates (按期整改率, percent with one decimal) from the counts."""
    for row in [*fig["kinds"].values(), fig["all"]]:
        row["rect_late"] = row["rect_due"] - row["rect_on_time"]
        row["rect_rate"] = round(100 * row["rect_on_time"] / row["rect_due"], 1) if row["rect_due"] else None
    for g in fig["accidents"].values():
        g["direct_loss"] = round(g["direct_loss"], 2)
    return fig


@dataclass
class Computation:
    figures: dict[str, dict[str, Any]]  # row code → figures
    total: dict[str, Any]
    touched: set[int]  # the cases any figure counted


def compute(session: Session, tree: Subtree, first: date, last: date, cutoff: datetime) -> Computation:
    """The figures of the period [first, last] (legal dates) for each row of ``tree`` (its children
    and the root's own level) and their total, as of ``cutoff`` (module docstring)."""
    T = utc(cutoff)
    lo, hi = day_start(first), day_start(last + timedelta(days=1))
    codes = set(tree.row_of)
    case_rows = session.execute(select(Case.id, Case.origin_jurisdiction_code)
                                .where(Case.origin_jurisdiction_code.in_(sorted(codes)),
                                       Case.created_at <= T)).all()
    ids = [r[0] for r in case_rows]
    origin = dict(case_rows)
    by_case: dict[int, list] = defaultdict(list)
    clocks: dict[int, list] = defaultdict(list)
    for chunk in _chunks(ids):
        for e in session.execute(select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.at, CaseEvent.action,
                                        CaseEvent.to_state, CaseEvent.payload)
                                 .where(CaseEvent.case_id.in_(chunk), CaseEvent.at <= T)
                                 .order_by(CaseEvent.case_id, CaseEvent.seq)):
            by_case[e.case_id].append(e)
        for d in session.execute(select(Deadline.id, Deadline.case_id, Deadline.key, Deadline.affects_light,
                                        Deadline.supervision_id, Deadline.status, Deadline.closed_at,
                                        Deadline.due_at, Deadline.due_date)
                                 .where(Deadline.case_id.in_(chunk), Deadline.created_at <= T)):
            clocks[d.case_id].append(d)
    rows = {code: empty_figures() for code in {tree.row_of[c] for c in codes}}
    touched: set[int] = set()
    for cid in ids:
        c = replay(CaseAsOf(cid, jurisdiction=origin[cid]), by_case.get(cid, ()), hi)
        if c.kind is None or c.jurisdiction not in codes:
            continue
        _count_case(rows[tree.row_of[c.jurisdiction]], c, clocks.get(cid, ()), first, last, lo, hi, T, touched)
    for code, n, unannounced, campaign in _inspections(session, codes, first, last, T):
        fig = rows[tree.row_of[code]]["inspections"]
        fig["count"] += n
        fig["unannounced"] += unannounced
        fig["campaign"] += campaign
    for code, figures in _credit(session, codes, lo, hi, T).items():
        fig = rows[tree.row_of[code]]["credit"]
        for name, v in figures.items():
            fig[name] += v
    total = empty_figures()
    for fig in rows.values():
        _add(total, fig)
    return Computation({k: finish(v) for k, v in rows.items()}, finish(total), touched)


def _chunks(ids: list[int], n: int = 500):
    for i in range(0, len(ids), n):
        yield ids[i:i + n]


def _count_case(fig, c: CaseAsOf, clocks, first, last, lo, hi, T, touched) -> None:
    k = fig["kinds"].setdefault(c.kind, {f: 0 for f in KIND_FIGURES})
    hit = False

    def bump(name: str) -> None:
        nonlocal hit
        k[name] += 1
        fig["all"][name] += 1
        hit = True

    if c.found_on and first <= c.found_on <= last:
        bump("new")
    if c.final and c.closed_at is not None and lo <= c.closed_at < hi:
        bump("closed")
    if c.existed_at_end and not c.final_at_end:
        bump("open_end")
    rect_late: list[int] = []
    overdue = False
    for d in clocks:
        closed = utc(d.closed_at) if d.closed_at is not None and utc(d.closed_at) <= T else None
        status = d.status if closed is not None else "open"
        if closed is not None:
            due_at, due_date = utc(d.due_at), d.due_date
        else:
            due_at, due_date = c.clock_due.get(d.id, (utc(d.due_at), d.due_date))
        if d.affects_light and due_at is not None and lo <= due_at < hi and due_at <= T \
                and (closed is None or closed > due_at):
            overdue = True
        if d.key == RECTIFICATION_KEY and d.supervision_id is None and status in ("open", "met", "missed") \
                and due_at is not None and due_date is not None and first <= due_date <= last \
                and (status == "met" or due_at <= T):
            rect_late.append(0 if status == "met" and closed <= due_at else 1)
    if overdue:
        bump("overdue")
    if rect_late:
        bump("rect_due")
        if max(rect_late) == 0:
            k["rect_on_time"] += 1
            fig["all"]["rect_on_time"] += 1
    if c.kind == "accident" and c.occurred_on and first <= c.occurred_on <= last:
        g = fig["accidents"][grade_of(c.facts)]
        g["count"] += 1
        for name in ("deaths", "serious_injuries", "minor_injuries"):
            g[name] += int(c.facts.get(name, 0))
        g["direct_loss"] += float(c.facts.get("direct_loss", 0))
        hit = True
    s = fig["supervision"]
    for listing in c.listings.values():
        major = listing["reason"] == "major_hazard"
        if lo <= listing["listed_at"] < hi:
            s["listed"] += 1
            s["listed_major_hazard"] += major
            hit = True
        if listing["lifted_at"] is not None and lo <= listing["lifted_at"] < hi:
            s["lifted"] += 1
            s["lifted_major_hazard"] += major
            hit = True
    if hit:
        touched.add(c.id)


def _inspections(session: Session, codes: set[str], first: date, last: date, T: datetime):
    i = Inspection
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for code, unannounced, campaign_id in session.execute(
            select(i.jurisdiction_code, i.unannounced, i.campaign_id)
            .where(i.jurisdiction_code.in_(sorted(codes)), i.inspected_on >= first, i.inspected_on <= last,
                   i.created_at <= T)):
        row = out[code]
        row[0] += 1
        row[1] += bool(unannounced)
        row[2] += campaign_id is not None
    return [(code, *v) for code, v in out.items()]


def _add(total: dict[str, Any], fig: dict[str, Any]) -> None:
    for kind, row in fig["kinds"].items():
        t = total["kinds"].setdefault(kind, {f: 0 for f in KIND_FIGURES})
        for name in KIND_FIGURES:
            t[name] += row[name]
    for name in KIND_FIGURES:
        total["all"][name] += fig["all"][name]
    for g, row in fig["accidents"].items():
        for name, v in row.items():
            total["accidents"][g][name] += v
    for section in ("supervision", "inspections", "credit"):
        for name, v in fig.get(section, {}).items():
            total[section][name] += v


def _credit(session: Session, codes: set[str], lo: datetime, hi: datetime, T: datetime) -> dict[str, dict[str, int]]:
    """Per recording authority: the period's 不良行为记录 and listings as of ``T`` (module docstring)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {f: 0 for f in CREDIT_FIGURES})
    end = min(hi, T + timedelta(microseconds=1))
    records = dict(session.execute(select(CreditRecord.id, CreditRecord.authority_code).where(
        CreditRecord.authority_code.in_(sorted(codes)), CreditRecord.recorded_at >= lo, CreditRecord.recorded_at < end)).all())
    points: dict[int, int] = {}
    appealed: set[int] = set()
    withdrawn: set[int] = set()
    ids = sorted(records)
    for chunk in _chunks(ids):
        for rid, action, after in session.execute(
                select(CreditRecordEvent.record_id, CreditRecordEvent.action, CreditRecordEvent.points_after)
                .where(CreditRecordEvent.record_id.in_(chunk), CreditRecordEvent.at <= T)
                .order_by(CreditRecordEvent.record_id, CreditRecordEvent.at, CreditRecordEvent.id)):
            if action in ("recorded", "regraded", "corrected", "withdrawn") and after is not None:
                points[rid] = after
            if action == "appealed":
                appealed.add(rid)
            if action == "withdrawn":
                withdrawn.add(rid)
    for rid, code in records.items():
        row = out[code]
        row["records"] += 1
        row["points"] += points.get(rid, 0)
        row["appealed"] += rid in appealed
        row["withdrawn"] += rid in withdrawn
    for code, lst, listed_at, lifted_at in session.execute(
            select(CreditListing.authority_code, CreditListing.list, CreditListing.listed_at, CreditListing.lifted_at)
            .where(CreditListing.authority_code.in_(sorted(codes)))
            .where(((CreditListing.listed_at >= lo) & (CreditListing.listed_at < end))
                   | ((CreditListing.lifted_at >= lo) & (CreditListing.lifted_at < end)))):
        if lst not in ("exposure", "blacklist"):
            continue
        if lo <= utc(listed_at) < end:
            out[code][f"{lst}_listed"] += 1
        if lifted_at is not None and lo <= utc(lifted_at) < end:
            out[code][f"{lst}_lifted"] += 1
    return dict(out)
