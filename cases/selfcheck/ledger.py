"""The self-inspection ledger (自查整改台账): every hazard an enterprise recorded itself, with what
became of it — still being rectified, rectified on time (or after its date, before the hand-over
came), or handed over to the regulator. One query serves the rows and the per-enterprise summary,
so a count and the list it links to always agree.

Which cases: those recorded as ``self_hazard`` — still of that kind, or handed over (a
``handed_over`` event: cases/selfcheck/handover.py). Who sees which: the cases the reader sees
(``visible_cases_clause``): a contact its own unit's, staff their jurisdiction's subtree.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case as sql_case, exists, func, select
from sqlalchemy.orm import Session

from cases.ledger.access import visible_cases_clause
from cases.models import Case, CaseEvent, Deadline, Enterprise, Project, User
from cases.platform.errors import ValidationFailed
from cases.selfcheck.records import SELF_CHECK_SOURCE

KIND = "self_hazard"
SELF_CLOCK = "self_rectification"  # its deadline key (deadlines-v2.yaml)
STATUSES = {"rectifying": "自查整改中", "rectified_on_time": "按期整改", "rectified_late": "逾期后整改",
            "handed_over": "逾期移交监管部门"}
SUMMARY_KEYS = tuple(STATUSES)

_handed_over = exists().where(CaseEvent.case_id == Case.id, CaseEvent.action == "handed_over")
# The self-inspection clock met no later than its due instant.
_met_on_time = exists().where(Deadline.case_id == Case.id, Deadline.key == SELF_CLOCK, Deadline.status == "met",
                              Deadline.closed_at <= Deadline.due_at)
STATUS = sql_case(
    (Case.kind != KIND, "handed_over"),
    (and_(Case.closed_at.is_not(None), _met_on_time), "rectified_on_time"),
    (Case.closed_at.is_not(None), "rectified_late"),
    else_="rectifying",
).label("status")


def _base(user: User, enterprise_id: int | None):
    # A handed-over one keeps the source 企业自查: the event is looked up only for those.
    stmt = (select(Case.id).where(visible_cases_clause(user),
                                  (Case.kind == KIND) | ((Case.source == SELF_CHECK_SOURCE) & _handed_over)))
    if enterprise_id is not None:
        stmt = stmt.where(Case.enterprise_id == enterprise_id)
    return stmt


def check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise ValidationFailed([{"field": "status", "label": "自查状态", "message": "可选：" + "、".join(
            f"{k}（{v}）" for k, v in STATUSES.items())}])


def ledger_page(s: Session, user: User, *, status: str | None = None, enterprise_id: int | None = None,
                page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """One page of the ledger (newest first) with ``total`` and the per-enterprise ``summary`` of the
    whole ledger the reader sees (the status filter narrows the rows, not the summary)."""
    check_status(status)
    ids = _base(user, enterprise_id).subquery()
    scoped = select(Case, STATUS).where(Case.id.in_(select(ids.c.id)))
    if status is not None:
        scoped = scoped.where(STATUS == status)
    total = s.scalar(select(func.count()).select_from(scoped.order_by(None).subquery()))
    rows = s.execute(scoped.order_by(Case.found_at.desc(), Case.id.desc())
                     .limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": _items(s, rows), "total": total, "page": page, "page_size": page_size,
            "summary": summary(s, user, enterprise_id=enterprise_id)}


def summary(s: Session, user: User, *, enterprise_id: int | None = None) -> list[dict[str, Any]]:
    """Per enterprise: how many it found, and how many are in each status (they add up to ``found``)."""
    ids = _base(user, enterprise_id).subquery()
    inner = select(Case.enterprise_id.label("eid"), STATUS).where(Case.id.in_(select(ids.c.id))).subquery()
    counts = s.execute(select(inner.c.eid, inner.c.status, func.count()).group_by(inner.c.eid, inner.c.status)).all()
    by_unit: dict[int, dict[str, int]] = {}
    for eid, st, n in counts:
        by_unit.setdefault(eid, dict.fromkeys(SUMMARY_KEYS, 0))[st] = n
    names = dict(s.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(list(by_unit)))).all()) \
        if by_unit else {}
    out = [{"enterprise_id": eid, "enterprise_name": names.get(eid, ""), "found": sum(c.values()), **c}
           for eid, c in by_unit.items()]
    return sorted(out, key=lambda r: (-r["found"], r["enterprise_name"]))


def _items(s: Session, rows) -> list[dict[str, Any]]:
    cases = [r[0] for r in rows]
    if not cases:
        return []
    ids = [c.id for c in cases]
    projects = {c.project_id for c in cases if c.project_id}
    names = dict(s.execute(select(Project.id, Project.name).where(Project.id.in_(projects))).all()) if projects else {}
    units = {c.enterprise_id for c in cases if c.enterprise_id}
    unit_names = dict(s.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(units))).all()) \
        if units else {}
    # The self-inspection clock of each (opened at recording).
    clocks = {d.case_id: d for d in s.scalars(select(Deadline).where(Deadline.case_id.in_(ids),
                                                                     Deadline.key == SELF_CLOCK))}
    from cases.ledger.services import definition_of

    out = []
    for c, status in rows:
        d = clocks.get(c.id)
        previous = [n for n in (c.previous_numbers or "").split(",") if n]
        out.append({
            "id": c.id, "number": c.number, "self_number": previous[0] if status == "handed_over" and previous
            else c.number, "title": c.title, "kind": c.kind, "state": c.state,
            "state_label": definition_of(c).state(c.state).label, "status": status, "status_label": STATUSES[status],
            "severity": c.severity, "enterprise": {"id": c.enterprise_id, "name": unit_names.get(c.enterprise_id)},
            "project": {"id": c.project_id, "name": names.get(c.project_id)} if c.project_id else None,
            "found_at": c.found_at.isoformat() if c.found_at else None,
            "self_due_date": d.due_date.isoformat() if d is not None and d.due_date else None,
            "rectified_at": c.closed_at.isoformat() if c.closed_at and c.kind == KIND else None,
            "closed_at": c.closed_at.isoformat() if c.closed_at else None,
        })
    return out
