"""Lists of cases: the filters every list and the ledger share (case_query), their checked options
and sorts, and one page of a user's visible cases."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, lazyload

from cases.platform import clock
from cases.ledger.access import visible_cases_clause
from cases.platform.errors import ValidationFailed
from cases.ledger.labels import SORT_LABELS, describe_options, field_label, options_of
from cases.models import Case, CaseEnterprise, Enterprise, User
from cases.ledger.services import CasePage


# ---------------------------------------------------------------- list

SORTS = {
    "created_at": Case.created_at, "updated_at": Case.updated_at, "found_at": Case.found_at,
    "number": Case.number, "state": Case.state, "kind": Case.kind, "title": Case.title,
}


def case_query(
    actor: User,
    *,
    kind: str | None = None,
    state: str | None = None,
    jurisdiction: str | None = None,
    assignee_id: int | None = None,
    enterprise_id: int | None = None,
    text: str | None = None,
    accident_grade: str | None = None,
    appraisal_grade: str | None = None,
    open_only: bool = False,
    light: str | None = None,
    now: datetime | None = None,
) -> Select:
    stmt = select(Case).where(visible_cases_clause(actor))
    if light:
        from cases.clocks.lights import light_expression

        lights = light.split(",")
        unknown = [x for x in lights if x not in ("red", "yellow", "green", "none")]
        if unknown:
            raise ValidationFailed([{"field": "light", "label": "红黄绿灯", "message":
                                     f"取值“{unknown[0]}”无效，{describe_options(options_of('light'))}（可逗号分隔）"}])
        stmt = stmt.where(light_expression(now or clock.now()).in_(lights))
    if kind:
        _check_options("kind", kind)
        stmt = stmt.where(Case.kind.in_(kind.split(",")))
    if state:
        _check_options("state", state)
        stmt = stmt.where(Case.state.in_(state.split(",")))
    if jurisdiction:
        from cases.ledger.access import subtree_codes

        stmt = stmt.where(Case.jurisdiction_code.in_(subtree_codes(jurisdiction)))
    if assignee_id is not None:
        stmt = stmt.where(Case.assignee_id == assignee_id)
    if enterprise_id is not None:
        related = select(CaseEnterprise.case_id).where(CaseEnterprise.enterprise_id == enterprise_id)
        stmt = stmt.where(or_(Case.enterprise_id == enterprise_id, Case.id.in_(related)))
    if text:
        # autoescape: a typed % or _ is searched for literally, not as a LIKE wildcard
        # and the responsible unit's name (责任单位: a search by enterprise finds its cases)
        t = text.strip()
        named = select(Enterprise.id).where(Enterprise.name.icontains(t, autoescape=True))
        stmt = stmt.where(or_(*(c.icontains(t, autoescape=True)
                                for c in (Case.number, Case.previous_numbers, Case.title, Case.description,
                                          Case.location)), Case.enterprise_id.in_(named)))
    if accident_grade:
        stmt = stmt.where(Case.accident_grade == accident_grade)
    if appraisal_grade:
        stmt = stmt.where(Case.appraisal_grade == appraisal_grade)
    if open_only:
        stmt = stmt.where(Case.closed_at.is_(None))
    return stmt


def _check_options(name: str, raw: str) -> None:
    """A comma-separated filter of known values; an unknown one is named with what is allowed."""
    options = options_of(name)
    unknown = [x for x in raw.split(",") if x not in options]
    if unknown:
        raise ValidationFailed([{"field": name, "label": field_label(name), "message":
                                 f"取值“{unknown[0]}”无效，{describe_options(options)}（可逗号分隔）"}])


def list_cases(session: Session, actor: User, *, sort: str = "-created_at", page: int = 1, page_size: int = 20,
               **filters: Any) -> CasePage:
    stmt = case_query(actor, **filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    order = []
    for key in sort.split(","):
        desc = key.startswith("-")
        column = SORTS.get(key.lstrip("-+"))
        if column is None:
            raise ValidationFailed([{"field": "sort", "label": "排序", "message": f"不支持按“{key}”排序，"
                                     + describe_options({k: SORT_LABELS.get(k, k) for k in SORTS})
                                     + "（前缀 - 表示倒序，可逗号分隔）"}])
        order.append(column.desc() if desc else column.asc())
    order.append(Case.id.desc())
    # A page lists summaries: the related units (selectin by default) load only if someone asks.
    items = list(session.scalars(stmt.order_by(*order).limit(page_size).offset((page - 1) * page_size)
                                 .options(lazyload(Case.related))))
    return CasePage(items=items, total=total or 0, page=page, page_size=page_size)
