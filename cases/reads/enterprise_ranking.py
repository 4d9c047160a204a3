"""Enterprise rankings per city (issue 12, part 8): the units by 责令停工通知书 issued to them per
active project they take part in, and by credit score.

- **停工通知书/在建项目**: per enterprise, the 责令（局部）停工通知书 (documents ``stop_work_order``)
  issued in the period on cases whose responsible unit (``cases.enterprise_id``) it is and whose
  current jurisdiction lies in the subtree, divided by its projects under construction in the
  subtree (any role: 施工, 建设, 监理 — ``project_parties``). Units with neither are left out; a unit with
  orders and no active project is listed with its orders and no ratio (shown last). Highest ratio
  first, then most orders, then the name.
- **信用分**: the units registered in the subtree, lowest ``credit_score`` first.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cases.ledger.access import subtree_codes
from cases.models import Case, Document, Enterprise, Project, ProjectParty
from cases.reads.case_lists import day_start

ACTIVE_PROJECT_STATUSES = ("under_construction", "active")


def stop_work_ranking(session: Session, root_code: str, start: date, end: date, *, limit: int = 100) -> list[dict[str, Any]]:
    codes = subtree_codes(root_code)
    orders = dict(session.execute(
        select(Case.enterprise_id, func.count(Document.id))
        .join(Case, Case.id == Document.case_id)
        .where(Document.doc_type == "stop_work_order", Case.enterprise_id.is_not(None),
               Case.jurisdiction_code.in_(codes), Document.issued_at >= day_start(start),
               Document.issued_at < day_start(date.fromordinal(end.toordinal() + 1)))
        .group_by(Case.enterprise_id)).all())
    projects = dict(session.execute(
        select(ProjectParty.enterprise_id, func.count(func.distinct(Project.id)))
        .join(Project, Project.id == ProjectParty.project_id)
        .where(Project.status.in_(ACTIVE_PROJECT_STATUSES), Project.jurisdiction_code.in_(codes))
        .group_by(ProjectParty.enterprise_id)).all())
    ids = set(orders) | {e for e, n in projects.items() if n}
    if not ids:
        return []
    names = dict(session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ids))).all())
    rows = []
    for e in ids:
        n, p = orders.get(e, 0), projects.get(e, 0)
        rows.append({"enterprise_id": e, "name": names.get(e, str(e)), "orders": n, "active_projects": p,
                     "ratio": round(n / p, 2) if p else None})
    rows.sort(key=lambda r: (r["ratio"] is None, -(r["ratio"] or 0), -r["orders"], r["name"]))
    return rows[:limit]


def credit_ranking(session: Session, root_code: str, *, limit: int = 100) -> list[dict[str, Any]]:
    stmt = (select(Enterprise.id, Enterprise.name, Enterprise.credit_score)
            .where(and_(Enterprise.jurisdiction_code.in_(subtree_codes(root_code))))
            .order_by(Enterprise.credit_score, Enterprise.name).limit(limit))
    return [{"enterprise_id": i, "name": n, "credit_score": s} for i, n, s in session.execute(stmt)]
