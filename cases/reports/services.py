"""Periodic reports (定期报送): compute as of a cut-off, submit a frozen version with a 文号, re-run a
submission and explain the difference, the city's board of its districts' submissions
(docs/reports.md). Staff within the jurisdiction's subtree read; a jurisdiction submits only its
own report; enterprises see none."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.calendar.calendar_store import get_calendar
from cases.credit.services import EVENT_LABELS as CREDIT_EVENT_LABELS
from cases.issuance.docnumbers import authority_prefix, next_document_serial
from cases.ledger.access import STAFF_ROLES, in_subtree
from cases.ledger.labels import event_label
from cases.models import (Case, CaseEvent, CreditRecord, CreditRecordEvent, Inspection, Jurisdiction, ReportSubmission,
                          User)
from cases.platform.clock import to_local
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed
from cases.reads.stats import Subtree, subtree
from cases.reports import asof
from cases.reports.policy import Period, cn_date, load, parse_period

DOC_TYPE = "periodic_report"
DOC_CHAR = "报"  # 姑苏建质报〔2026〕3号
# Events after a cut-off that can move a figure (the rest — comments, reminders, evidence — cannot).
MOVING_ACTIONS = {"create", "listed", "supervision_lifted", "escalated", "deadline_recomputed",
                  "supervision_extension_decided", "handed_over"}
MOVING_KEYS = {"escalated", "reclassified", "grade", "deadlines"}


def _tree(session: Session, user: User, code: str) -> Subtree:
    if user.role not in STAFF_ROLES:
        raise Forbidden("企业用户无权查看定期报表")
    tree = subtree(session, code)
    if tree is None:
        raise NotFound(f"辖区 {code} 不存在")
    if not in_subtree(session, user.jurisdiction_code, code):
        raise Forbidden("只能查看本辖区及下级辖区的报表")
    return tree


def report(session: Session, user: User, code: str, kind: Any, key: Any, *, cutoff: datetime | None,
           now: datetime) -> dict[str, Any]:
    """The figures of ``code``'s subtree for the period as of ``cutoff`` (default: now)."""
    period = parse_period(kind, key)
    tree = _tree(session, user, code)
    cutoff = asof.utc(cutoff or now)
    if cutoff > asof.utc(now):
        raise ValidationFailed([{"field": "cutoff", "label": "截止时点", "message": "不能晚于当前时间"}])
    return _report(session, tree, period, cutoff)


def _report(session: Session, tree: Subtree, period: Period, cutoff: datetime) -> dict[str, Any]:
    comp = asof.compute(session, tree, period.first, period.last, cutoff)
    policy = load()
    names = {p.code: p.name for p in tree.rows}
    rows = [{"code": c, "name": names[c] + ("（本级）" if c == tree.root.code and tree.children else ""),
             "figures": comp.figures[c]} for c in [p.code for p in tree.rows] if c in comp.figures]
    if tree.children:  # the root's own level only when it holds something
        rows = [r for r in rows if r["code"] != tree.root.code or _nonzero(r["figures"])]
    return {"jurisdiction": {"code": tree.root.code, "name": tree.root.name},
            "period": {"kind": period.kind, "key": period.key, "label": period.label,
                       "first": period.first.isoformat(), "last": period.last.isoformat()},
            "cutoff": cutoff.isoformat(), "definitions_version": asof.DEFINITIONS_VERSION,
            "policy_version": policy.version, "deadline": policy.deadline(period, get_calendar(session)).isoformat(),
            "rows": rows, "total": comp.total, "_touched": sorted(comp.touched)}


def _nonzero(fig: dict[str, Any]) -> bool:
    return any(v for path, v in flatten(fig).items() if not path.endswith("rect_rate"))


def flatten(fig: Any, prefix: str = "") -> dict[str, Any]:
    """{"kinds.hazard.new": 3, …}: the figures as paths, for comparing two reports."""
    if isinstance(fig, dict):
        out: dict[str, Any] = {}
        for k, v in fig.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: fig}


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = flatten(before), flatten(after)
    return [{"figure": k, "before": a.get(k), "after": b.get(k)} for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not (a.get(k) in (None, 0) and b.get(k) in (None, 0))]


def _under_definitions(figures: dict[str, Any], version: int) -> dict[str, Any]:
    """The figures a snapshot of definitions ``version`` has (version 1 had no credit section)."""
    if version >= 2:
        return figures

    def strip(fig: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in fig.items() if k != "credit"}

    return {"rows": [{**r, "figures": strip(r["figures"])} if "figures" in r else r for r in figures["rows"]],
            "total": strip(figures["total"])}


def public(rep: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rep.items() if not k.startswith("_")}


# ---------------------------------------------------------------- submission


def submit(session: Session, user: User, code: str, kind: Any, key: Any, *, now: datetime,
           note: str | None = None) -> ReportSubmission:
    """Freeze the report as of ``now`` and number it; a later submission is a new version."""
    period = parse_period(kind, key)
    tree = _tree(session, user, code)
    if user.jurisdiction_code != code:
        raise Forbidden("只能报送本辖区的报表")
    today = to_local(now).date()
    if today <= period.last:
        raise ActionNotAllowed(f"报告期（{period.label}）尚未结束，{cn_date(period.last)}之后方可报送", state="open")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise ValidationFailed([{"field": "note", "label": "更正说明", "message": "应为不超过2000字的文字"}])
    last = session.scalar(select(func.max(ReportSubmission.version)).where(
        ReportSubmission.jurisdiction_code == code, ReportSubmission.period_kind == period.kind,
        ReportSubmission.period_key == period.key)) or 0
    if last and not (note or "").strip():
        raise ValidationFailed([{"field": "note", "label": "更正说明", "message": "重新报送（更正）时必填"}])
    rep = _report(session, tree, period, asof.utc(now))
    policy = load()
    deadline = policy.deadline(period, get_calendar(session))
    late_days = max(0, (today - deadline).days)
    j = session.get(Jurisdiction, code)
    serial = next_document_serial(session, code, DOC_TYPE, today.year)
    sub = ReportSubmission(
        jurisdiction_code=code, period_kind=period.kind, period_key=period.key, version=last + 1,
        cutoff_at=asof.utc(now), figures=public(rep), definitions_version=asof.DEFINITIONS_VERSION,
        policy_version=policy.version, deadline_date=deadline, late=late_days > 0, late_days=late_days,
        doc_number=f"{authority_prefix(j)}{DOC_CHAR}〔{today.year}〕{serial}号", note=(note or "").strip() or None,
        submitted_by_id=user.id, submitted_at=now)
    session.add(sub)
    session.flush()
    return sub


def submission_json(sub: ReportSubmission, names: dict[int, str] | None = None, *, figures: bool = True) -> dict[str, Any]:
    period = parse_period(sub.period_kind, sub.period_key)
    out = {"id": sub.id, "jurisdiction_code": sub.jurisdiction_code, "period_kind": sub.period_kind,
           "period_key": sub.period_key, "period_label": period.label, "version": sub.version,
           "doc_number": sub.doc_number, "cutoff_at": asof.utc(sub.cutoff_at).isoformat(),
           "submitted_at": asof.utc(sub.submitted_at).isoformat(), "submitted_by_id": sub.submitted_by_id,
           "submitted_by": (names or {}).get(sub.submitted_by_id), "deadline": sub.deadline_date.isoformat(),
           "deadline_label": cn_date(sub.deadline_date), "late": sub.late, "late_days": sub.late_days,
           "note": sub.note, "policy_version": sub.policy_version, "definitions_version": sub.definitions_version}
    if figures:
        out["figures"] = sub.figures
    return out


def get_submission(session: Session, user: User, submission_id: int) -> ReportSubmission:
    sub = session.get(ReportSubmission, submission_id)
    if sub is None:
        raise NotFound("报表不存在")
    _tree(session, user, sub.jurisdiction_code)
    return sub


def submissions(session: Session, user: User, code: str, kind: Any = None, key: Any = None) -> list[ReportSubmission]:
    _tree(session, user, code)
    stmt = select(ReportSubmission).where(ReportSubmission.jurisdiction_code == code)
    if kind is not None or key is not None:
        period = parse_period(kind, key)
        stmt = stmt.where(ReportSubmission.period_kind == period.kind, ReportSubmission.period_key == period.key)
    return list(session.scalars(stmt.order_by(ReportSubmission.period_kind, ReportSubmission.period_key.desc(),
                                              ReportSubmission.version.desc())))


# ---------------------------------------------------------------- re-run and explanation


def rerun(session: Session, user: User, submission_id: int, *, now: datetime) -> dict[str, Any]:
    """The submission re-computed as of its own cut-off (``same``: equal to the frozen figures) and as
    of now, the figures that differ, and the events recorded after the cut-off that explain them."""
    sub = get_submission(session, user, submission_id)
    tree = _tree(session, user, sub.jurisdiction_code)
    period = parse_period(sub.period_kind, sub.period_key)
    again = _report(session, tree, period, asof.utc(sub.cutoff_at))
    live = _report(session, tree, period, asof.utc(now))
    frozen = {"rows": sub.figures["rows"], "total": sub.figures["total"]}
    # A snapshot frozen under older definitions is compared on the figures it has (version 1: no credit).
    same_defs = _under_definitions({"rows": again["rows"], "total": again["total"]}, sub.definitions_version)
    return {"submission": submission_json(sub, figures=False),
            "same_as_frozen": differences(frozen, same_defs) == [],
            "rerun_differences": differences(frozen, same_defs),
            "live": public(live), "differences": differences(sub.figures["total"], live["total"]),
            "events_after_cutoff": explain(session, tree, period, asof.utc(sub.cutoff_at), asof.utc(now),
                                           set(again["_touched"]) | set(live["_touched"]))}


def explain(session: Session, tree: Subtree, period: Period, cutoff: datetime, now: datetime,
            touched: set[int]) -> list[dict[str, Any]]:
    """Events recorded after ``cutoff`` (up to ``now``) that can move a figure of the period: on the
    cases either computation counted, those that change a state, a kind, the jurisdiction, a grade,
    a clock, accident facts or a listing; and inspection records of the period entered late."""
    out: list[dict[str, Any]] = []
    ids = sorted(touched)
    for i in range(0, len(ids), 500):
        rows = session.execute(select(CaseEvent, Case.number, Case.kind).join(Case, Case.id == CaseEvent.case_id)
                               .where(CaseEvent.case_id.in_(ids[i:i + 500]), CaseEvent.at > cutoff,
                                      CaseEvent.at <= now)
                               .order_by(CaseEvent.at, CaseEvent.case_id, CaseEvent.seq)).all()
        for e, number, kind in rows:
            p = e.payload or {}
            values = p.get("values") or {}
            if not (e.action in MOVING_ACTIONS or (e.to_state and e.to_state != e.from_state)
                    or MOVING_KEYS & set(p) or any(k in values for k in asof.FACTS)):
                continue
            out.append({"type": "case_event", "case_id": e.case_id, "case_number": number, "seq": e.seq,
                        "at": asof.utc(e.at).isoformat(), "action": e.action, "label": event_label(e.action),
                        "from_state": e.from_state, "to_state": e.to_state, "comment": e.comment,
                        "facts": {k: values[k] for k in asof.FACTS if k in values} or None,
                        "escalated": (p.get("escalated") or ({"from": p.get("from"), "to": p.get("to")}
                                                             if e.action == "escalated" else None))})
    codes = sorted(tree.row_of)
    for ins in session.scalars(select(Inspection).where(
            Inspection.jurisdiction_code.in_(codes), Inspection.inspected_on >= period.first,
            Inspection.inspected_on <= period.last, Inspection.created_at > cutoff, Inspection.created_at <= now)):
        out.append({"type": "inspection", "inspection_id": ins.id, "number": ins.number,
                    "at": asof.utc(ins.created_at).isoformat(), "label": "补录检查记录",
                    "inspected_on": ins.inspected_on.isoformat()})
    lo, hi = asof.day_start(period.first), asof.day_start(period.last + timedelta(days=1))
    for ev, rec in session.execute(
            select(CreditRecordEvent, CreditRecord).join(CreditRecord, CreditRecord.id == CreditRecordEvent.record_id)
            .where(CreditRecord.authority_code.in_(codes), CreditRecord.recorded_at >= lo, CreditRecord.recorded_at < hi,
                   CreditRecordEvent.action.in_(("appealed", "regraded", "corrected", "withdrawn")),
                   CreditRecordEvent.at > cutoff, CreditRecordEvent.at <= now)):
        out.append({"type": "credit_record_event", "record_id": rec.id, "item_code": rec.item_code,
                    "at": asof.utc(ev.at).isoformat(), "action": ev.action,
                    "label": CREDIT_EVENT_LABELS.get(ev.action, ev.action),
                    "points_before": ev.points_before, "points_after": ev.points_after})
    out.sort(key=lambda x: x["at"])
    return out


# ---------------------------------------------------------------- the city's board


def overview(session: Session, user: User, code: str, kind: Any, key: Any, *, now: datetime) -> dict[str, Any]:
    """Each child jurisdiction's submission for the period (submitted / late / not yet, lateness in
    days), the sum of their latest frozen figures, the city's own live as-of computation, and the
    figures where they differ."""
    period = parse_period(kind, key)
    tree = _tree(session, user, code)
    policy = load()
    deadline = policy.deadline(period, get_calendar(session))
    today = to_local(now).date()
    latest: dict[str, ReportSubmission] = {}
    counts: dict[str, int] = {}
    for sub in session.scalars(select(ReportSubmission).where(
            ReportSubmission.period_kind == period.kind, ReportSubmission.period_key == period.key,
            ReportSubmission.jurisdiction_code.in_([c.code for c in tree.children]))
            .order_by(ReportSubmission.version)):
        latest[sub.jurisdiction_code] = sub
        counts[sub.jurisdiction_code] = counts.get(sub.jurisdiction_code, 0) + 1
    first_at = {c: s for c, s in session.execute(
        select(ReportSubmission.jurisdiction_code, func.min(ReportSubmission.submitted_at))
        .where(ReportSubmission.period_kind == period.kind, ReportSubmission.period_key == period.key)
        .group_by(ReportSubmission.jurisdiction_code))}
    live = _report(session, tree, period, asof.utc(now))
    live_rows = {r["code"]: r["figures"] for r in live["rows"]}
    rows, summed = [], asof.empty_figures()
    for child in tree.children:
        sub = latest.get(child.code)
        if sub is not None:
            first = [s for s in session.scalars(select(ReportSubmission).where(
                ReportSubmission.jurisdiction_code == child.code, ReportSubmission.period_kind == period.kind,
                ReportSubmission.period_key == period.key, ReportSubmission.version == 1))][0]
            status = "late" if first.late else "submitted"
            late_days = first.late_days
            asof._add(summed, sub.figures["total"])
        else:
            late_days = max(0, (today - deadline).days)
            status = "overdue" if late_days else "not_yet"
        rows.append({"code": child.code, "name": child.name, "status": status,
                     "status_label": {"submitted": "已按时报送", "late": "迟报", "overdue": "逾期未报",
                                      "not_yet": "未报送"}[status],
                     "late_days": late_days, "versions": counts.get(child.code, 0),
                     "first_submitted_at": asof.utc(first_at[child.code]).isoformat() if child.code in first_at else None,
                     "latest": submission_json(sub, figures=False) if sub else None,
                     "live_differences": differences(sub.figures["total"], live_rows.get(child.code, asof.empty_figures()))
                     if sub else None})
    asof.finish(summed)
    return {"jurisdiction": {"code": tree.root.code, "name": tree.root.name},
            "period": live["period"], "deadline": deadline.isoformat(), "deadline_label": cn_date(deadline),
            "policy_version": policy.version, "districts": rows,
            "counts": {s: sum(1 for r in rows if r["status"] == s) for s in ("submitted", "late", "overdue", "not_yet")},
            "submitted_sum": summed, "live": public(live),
            "differences": differences(summed, live["total"])}
