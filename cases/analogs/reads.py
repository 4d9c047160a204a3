"""Who sees which 类比排查 tasks, the lists (``/api/analog-tasks``, a case's tasks) and the cockpit's
figures per district — the figures and the lists select with the same clauses, so they agree.

A task is seen by staff whose subtree holds the task's project (the district that must inspect) or
the case that proposed it (the authority following its case). Enterprise contacts see none: the
checks are the regulator's plan, and announcing which sites will be inspected would defeat
unannounced inspections (四不两直). Status as people read it is one of ``open`` (running),
``overdue`` (open past 24:00 of its due date, Beijing), ``done``, ``cancelled`` — exclusive."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case as when, func, or_, select
from sqlalchemy.orm import Session

from cases.calendar.calendar_store import get_calendar
from cases.clocks.countdown import countdown
from cases.clocks.legal_time import end_of_day_utc, shanghai_date
from cases.ledger.access import STAFF_ROLES, require_role, subtree_codes, visible_cases_clause
from cases.ledger.labels import options_of
from cases.models import AnalogTask, Case, Inspection, InspectionItem, Jurisdiction, Project, User
from cases.platform.errors import NotFound, ValidationFailed
from cases.analogs.proposals import REASON_LABELS
from state_machines.analog_policy import analog_policy

STATUSES = ("open", "overdue", "done", "cancelled")
STATUS_LABELS = {"open": "进行中", "overdue": "已逾期", "done": "已完成", "cancelled": "已撤销"}
CATEGORY_LABELS = {"management": "施工安全管理", "excavation": "基坑工程", "formwork": "模板工程",
                   "scaffolding": "脚手架工程", "lifting": "起重机械及吊装", "height": "高处作业", "power": "施工临时用电",
                   "confined": "有限空间作业", "demolition": "拆除工程", "tunnelling": "暗挖工程", "fire": "消防安全",
                   "other": "其他"}


def visible_tasks_clause(user: User):
    """Staff only (403 for anyone else): the task's jurisdiction in the user's subtree, or its source
    case visible to the user."""
    require_role(user, *STAFF_ROLES)
    return or_(AnalogTask.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code)),
               AnalogTask.source_case_id.in_(select(Case.id).where(visible_cases_clause(user))))


def status_expression(now: datetime):
    """The status a person reads, in SQL (``overdue``: open and its due date before today, Beijing)."""
    return when((and_(AnalogTask.status == "open", AnalogTask.due_on < shanghai_date(now)), "overdue"),
                else_=AnalogTask.status)


def status_clause(statuses: list[str], now: datetime):
    today = shanghai_date(now)
    parts = []
    for st in statuses:
        if st == "open":
            parts.append(and_(AnalogTask.status == "open", AnalogTask.due_on >= today))
        elif st == "overdue":
            parts.append(and_(AnalogTask.status == "open", AnalogTask.due_on < today))
        else:
            parts.append(AnalogTask.status == st)
    return or_(*parts)


def parse_statuses(raw: str | None) -> list[str]:
    values = [v.strip() for v in (raw or "").split(",") if v.strip()]
    bad = [v for v in values if v not in STATUSES]
    if bad:
        allowed = "、".join(f"{k}（{v}）" for k, v in STATUS_LABELS.items())
        raise ValidationFailed([{"field": "status", "label": "任务状态", "message": f"只能是 {allowed}，收到 {bad[0]}"}])
    return values


def with_findings_clause():
    """Done by an inspection that found something (failed items)."""
    return AnalogTask.inspection_id.in_(select(Inspection.id).where(Inspection.findings > 0))


def task_query(user: User, now: datetime, *, source_case_id: int | None = None, jurisdiction: str | None = None,
               jurisdiction_only: bool = False, status: list[str] | None = None,
               with_findings: bool | None = None, project_id: int | None = None) -> Select:
    stmt = select(AnalogTask).where(visible_tasks_clause(user))
    if source_case_id is not None:
        stmt = stmt.where(AnalogTask.source_case_id == source_case_id)
    if project_id is not None:
        stmt = stmt.where(AnalogTask.project_id == project_id)
    if jurisdiction:
        stmt = stmt.where(AnalogTask.jurisdiction_code == jurisdiction if jurisdiction_only
                          else AnalogTask.jurisdiction_code.in_(subtree_codes(jurisdiction)))
    if status:
        stmt = stmt.where(status_clause(status, now))
    if with_findings is not None:
        stmt = stmt.where(with_findings_clause() if with_findings else ~with_findings_clause())
    return stmt


def list_tasks(s: Session, user: User, now: datetime, *, page: int = 1, page_size: int = 50, **filters: Any) -> dict[str, Any]:
    """One page of the visible tasks with the filters, the due soonest first (then the latest proposals)."""
    stmt = task_query(user, now, **filters)
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(s.scalars(stmt.order_by(when((AnalogTask.status == "open", 0), else_=1), AnalogTask.due_on,
                                        AnalogTask.rank, AnalogTask.id)
                          .offset((page - 1) * page_size).limit(page_size)))
    return {"items": tasks_json(s, rows, now), "total": total, "page": page, "page_size": page_size}


def case_tasks(s: Session, user: User, case_id: int, now: datetime) -> list[dict[str, Any]]:
    """The tasks a case proposed (the case must be visible: 404 otherwise, as the case)."""
    from cases.ledger import services

    require_role(user, *STAFF_ROLES)
    services.get_case(s, user, case_id)
    rows = list(s.scalars(select(AnalogTask).where(AnalogTask.source_case_id == case_id)
                          .order_by(AnalogTask.rank, AnalogTask.id)))
    return tasks_json(s, rows, now)


def get_task(s: Session, user: User, task_id: int) -> AnalogTask:
    missing = NotFound(f"类比排查任务（编号{task_id}）不存在或不在您的管辖范围内")
    if abs(task_id) > 2**31 - 1:
        raise missing
    task = s.scalars(select(AnalogTask).where(AnalogTask.id == task_id, visible_tasks_clause(user))).first()
    if task is None:
        raise missing
    return task


def tasks_json(s: Session, tasks: list[AnalogTask], now: datetime) -> list[dict[str, Any]]:
    """The tasks as the API and the pages show them; names read with one statement per kind of thing."""
    if not tasks:
        return []
    project_ids = {t.project_id for t in tasks}
    projects = {r.id: r for r in s.execute(select(Project.id, Project.name, Project.address, Project.status)
                                           .where(Project.id.in_(project_ids)))}
    places = {r.code: r for r in s.execute(select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.authority_name)
                                           .where(Jurisdiction.code.in_({t.jurisdiction_code for t in tasks})))}
    sources = {r.id: r for r in s.execute(select(Case.id, Case.number, Case.title, Case.kind)
                                          .where(Case.id.in_({t.source_case_id for t in tasks})))}
    inspection_ids = {t.inspection_id for t in tasks if t.inspection_id}
    inspections = {r.id: r for r in s.execute(select(Inspection.id, Inspection.number, Inspection.inspected_on,
                                                     Inspection.findings, Inspection.summary)
                                              .where(Inspection.id.in_(inspection_ids)))} if inspection_ids else {}
    found: dict[int, list[dict[str, Any]]] = {}
    if inspection_ids:
        for r in s.execute(select(InspectionItem.inspection_id, Case.id, Case.number, Case.title, Case.kind)
                           .join(Case, Case.id == InspectionItem.case_id)
                           .where(InspectionItem.inspection_id.in_(inspection_ids)).order_by(Case.id)):
            found.setdefault(r.inspection_id, []).append({"id": r.id, "number": r.number, "title": r.title, "kind": r.kind})
    cancellers = {r.id: r.display_name for r in s.execute(select(User.id, User.display_name).where(
        User.id.in_({t.cancelled_by_id for t in tasks if t.cancelled_by_id})))} if any(t.cancelled_by_id for t in tasks) else {}
    kinds = options_of("kind") or {}
    triggers = analog_policy().triggers
    calendar = get_calendar(s)
    today = shanghai_date(now)
    out = []
    for t in tasks:
        status = "overdue" if t.status == "open" and t.due_on < today else t.status
        p, j, c = projects.get(t.project_id), places.get(t.jurisdiction_code), sources.get(t.source_case_id)
        item: dict[str, Any] = {
            "id": t.id, "status": status, "status_label": STATUS_LABELS[status],
            "reason": t.reason, "reason_label": REASON_LABELS.get(t.reason, t.reason),
            "category": t.category, "category_label": CATEGORY_LABELS.get(t.category or "", t.category),
            "trigger": t.trigger, "trigger_label": triggers[t.trigger].label if t.trigger in triggers else None,
            "rank": t.rank, "basis": t.basis or {},
            "project": {"id": t.project_id, "name": p.name if p else None, "address": p.address if p else None,
                        "status": p.status if p else None},
            "jurisdiction": {"code": t.jurisdiction_code, "name": j.name if j else None,
                             "authority_name": j.authority_name if j else None},
            "source_case": {"id": t.source_case_id, "number": c.number if c else None, "title": c.title if c else None,
                            "kind": c.kind if c else None, "kind_label": kinds.get(c.kind, c.kind) if c else None},
            "due_on": t.due_on, "due_at": end_of_day_utc(t.due_on), "created_at": t.created_at,
            "remind_at": t.remind_at, "reminded_at": t.reminded_at, "overdue_notified_at": t.overdue_notified_at,
            "done_at": t.done_at, "inspection": None, "findings": 0, "cases_found": [],
            "cancelled": None,
            "record_url": f"/inspections/new?project_id={t.project_id}&analog_task_id={t.id}" if t.status == "open" else None,
        }
        if t.status == "open":
            cd = countdown(item["due_at"], t.due_on, now, calendar)
            item["countdown"], item["countdown_state"] = cd.text, cd.state
        if t.inspection_id:
            i = inspections.get(t.inspection_id)
            item["inspection"] = {"id": t.inspection_id, "number": i.number if i else None,
                                  "inspected_on": i.inspected_on if i else None, "findings": i.findings if i else 0,
                                  "summary": i.summary if i else ""}
            item["findings"] = i.findings if i else 0
            item["cases_found"] = found.get(t.inspection_id, [])
        if t.status == "cancelled":
            item["cancelled"] = {"at": t.cancelled_at, "by": {"id": t.cancelled_by_id, "name": cancellers.get(t.cancelled_by_id)},
                                 "reason": t.cancel_reason}
        out.append(item)
    return out


def mark_for(s: Session, user: User, items: list[dict[str, Any]], case_codes: dict[int, str] | None = None) -> None:
    """What ``user`` may do with each listed task (the pages' links and forms): ``may_record`` — an
    officer or supervisor whose subtree holds the project inspects it; ``may_cancel`` — a supervisor
    whose subtree holds the project or the proposing case (``cases.analogs.services.cancel_task``)."""
    from cases.ledger.access import in_subtree

    if case_codes is None:
        ids = {i["source_case"]["id"] for i in items}
        case_codes = dict(s.execute(select(Case.id, Case.jurisdiction_code).where(Case.id.in_(ids))).all()) if ids else {}
    for i in items:
        running = i["status"] in ("open", "overdue")
        here = in_subtree(s, user.jurisdiction_code, i["jurisdiction"]["code"])
        source = case_codes.get(i["source_case"]["id"])
        i["may_record"] = running and here and user.role in ("officer", "supervisor")
        i["may_cancel"] = running and user.role == "supervisor" and (
            here or (source is not None and in_subtree(s, user.jurisdiction_code, source)))


# ---------------------------------------------------------------- the cockpit's figures

FIGURES = ("proposed", "open", "overdue", "done", "with_findings", "cancelled")
FIGURE_LABELS = {"proposed": "已提出", "open": "进行中", "overdue": "已逾期", "done": "已完成",
                 "with_findings": "排查发现问题", "cancelled": "已撤销"}


def figure_filters(figure: str) -> dict[str, Any]:
    """The list filters that select exactly the tasks a figure counts."""
    if figure == "proposed":
        return {}
    if figure == "with_findings":
        return {"status": "done", "with_findings": "true"}
    return {"status": figure}


def district_figures(s: Session, user: User, root_code: str, row_of: dict[str, str], now: datetime):
    """Per row of the cockpit (``row_of``: every code of the subtree → its row), the figures; one
    grouped statement over the visible tasks of the subtree. Returns ({row: {figure: n}}, totals)."""
    status = status_expression(now)
    findings = when((with_findings_clause(), 1), else_=0)
    stmt = (select(AnalogTask.jurisdiction_code, status.label("st"), func.count().label("n"), func.sum(findings).label("f"))
            .where(visible_tasks_clause(user), AnalogTask.jurisdiction_code.in_(subtree_codes(root_code)))
            .group_by(AnalogTask.jurisdiction_code, status))
    table: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(FIGURES, 0)
    for r in s.execute(stmt):
        row = row_of.get(r.jurisdiction_code)
        if row is None:
            continue
        acc = table.setdefault(row, dict.fromkeys(FIGURES, 0))
        for target in (acc, totals):
            target["proposed"] += r.n
            target[r.st] += r.n
            if r.st == "done":
                target["with_findings"] += int(r.f or 0)
    return table, totals
