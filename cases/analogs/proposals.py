"""Proposing the 类比排查 tasks, inside the transition that registers a major hazard (major_hazard
``register``, a hazard's ``reclassify``) or grades an accident (any action whose ``grade_accident``
effect set a grade). Cheap: the catalogue category (one indexed read), one statement per kind of
candidate (the responsible unit's other projects; the same-category projects of the subtree) and
one INSERT … ON CONFLICT DO NOTHING — unique per (source case, project), so a second trigger
(a re-grade, a reopened case registered again) never duplicates a task."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Integer, and_, case as when, func, literal, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.calendar.calendar_store import get_calendar
from cases.clocks.legal_time import add_working_days, shanghai_date
from cases.ledger import services
from cases.ledger.access import subtree_codes
from cases.ledger.rules import ActionContext
from cases.models import AnalogTask, Case, CaseEvent, HazardCatalogItem, Inspection, InspectionItem, Project, ProjectParty
from cases.platform.clock import SHANGHAI
from state_machines.analog_policy import AnalogPolicy, analog_policy

SAME_ENTERPRISE = "same_enterprise"
SAME_CATEGORY = "same_category"
REASON_LABELS = {SAME_ENTERPRISE: "同一企业其他在建项目", SAME_CATEGORY: "同类隐患"}
HAZARD_KINDS = ("hazard", "major_hazard")


def trigger_of(ctx: ActionContext) -> str | None:
    """Which trigger of the policy this transition is, if any (the case row is already updated)."""
    case = ctx.case
    if case.kind == "major_hazard" and ctx.action.name == "register":
        return "major_hazard_registered"
    if case.kind == "major_hazard" and ctx.action.name == "reclassify":
        return "major_hazard_reclassified"
    if case.kind == "accident" and "accident_grade" in ctx.changes and case.accident_grade:
        return "accident_graded"  # 未达事故等级 (no grade) proposes nothing
    return None


def categories_of(session: Session, case: Case, policy: AnalogPolicy) -> tuple[str, ...]:
    """The hazard categories (the 2022 catalogue's category codes) the case is about: a major
    hazard's catalogue item's category (else the category typed on the hazard it was); an accident's
    type mapped by the policy (高处坠落 → 高处作业、脚手架工程 …)."""
    details = case.details or {}
    if case.kind == "accident":
        return policy.accident_categories.get(str(details.get("accident_type") or ""), ())
    if case.hazard_item_code:
        code = session.scalar(select(HazardCatalogItem.category_code)
                              .where(HazardCatalogItem.item_code == case.hazard_item_code)
                              .order_by(HazardCatalogItem.edition.desc()).limit(1))
        if code:
            return (code,)
    return (details["category"],) if details.get("category") else ()


def due_dates(session: Session, trigger: str, now: datetime, policy: AnalogPolicy):
    """(due_on, remind_at): ``working_days`` working days after today (Beijing, 调休 included);
    the reminder at the policy's hour ``before_due`` working days before — None when that moment
    has already passed (a reminder is never sent late; the overdue notice still is)."""
    calendar = get_calendar(session)
    due_on = add_working_days(shanghai_date(now), policy.triggers[trigger].working_days, calendar)
    remind_on = add_working_days(due_on, -policy.reminder_before, calendar) if policy.reminder_before else due_on
    remind_at = datetime.combine(remind_on, time(policy.reminder_hour), tzinfo=SHANGHAI).astimezone(timezone.utc)
    return due_on, (remind_at if remind_at > now else None)


def _statuses(statuses: tuple[str, ...]):
    return Project.status.in_(statuses)


def same_enterprise_projects(session: Session, case: Case, policy: AnalogPolicy) -> list[tuple[int, str]]:
    """The responsible unit's other active projects (any role on the project), those of the case's
    subtree first, then by id; at most ``max_projects``."""
    if not case.enterprise_id:
        return []
    inside = Project.jurisdiction_code.in_(subtree_codes(case.jurisdiction_code))
    stmt = (select(Project.id, Project.jurisdiction_code)
            .join(ProjectParty, ProjectParty.project_id == Project.id)
            .where(ProjectParty.enterprise_id == case.enterprise_id, _statuses(policy.enterprise_statuses))
            .group_by(Project.id, Project.jurisdiction_code)
            .order_by(when((inside, 0), else_=1), Project.id).limit(policy.enterprise_max))
    if case.project_id:
        stmt = stmt.where(Project.id != case.project_id)
    return [(r.id, r.jurisdiction_code) for r in session.execute(stmt)]


def same_category_projects(session: Session, case: Case, categories: tuple[str, ...], now: datetime,
                           policy: AnalogPolicy, exclude: set[int]) -> list[Any]:
    """Active projects of the case's jurisdiction and below with a record of one of the categories:
    a hazard or major-hazard case of it still open or found within ``lookback_days``, or a failed
    inspection item of it within that time. Ranked: most open cases of the category, then the
    latest record, then id; at most ``max_projects``."""
    if not categories or not policy.category_max:
        return []
    since = now - timedelta(days=policy.lookback_days)
    items = select(HazardCatalogItem.item_code).where(HazardCatalogItem.category_code.in_(categories))
    of_category = or_(Case.hazard_item_code.in_(items),
                      and_(Case.kind == "hazard", Case.details["category"].as_string().in_(categories)))
    # The subtree's cases as two index ranges (docs/analogs.md "Cost"): its open hazards
    # (ix_cases_open) and its closed ones found since the lookback (ix_cases_j_found).
    codes = subtree_codes(case.jurisdiction_code)

    def of_cases(is_open: bool):
        return (select(Case.project_id.label("pid"), literal(1 if is_open else 0, Integer).label("open"),
                       Case.found_at.label("at"))
                .where(Case.jurisdiction_code.in_(codes), Case.kind.in_(HAZARD_KINDS), Case.project_id.is_not(None),
                       Case.id != case.id, of_category,
                       Case.closed_at.is_(None) if is_open else and_(Case.closed_at.is_not(None), Case.found_at >= since)))
    failed = (select(Inspection.project_id.label("pid"), literal(0, Integer).label("open"), Inspection.created_at.label("at"))
              .join(InspectionItem, InspectionItem.inspection_id == Inspection.id)
              .where(Inspection.jurisdiction_code.in_(codes), Inspection.inspected_on >= since.date(),
                     Inspection.project_id.is_not(None), InspectionItem.result == "fail",
                     or_(InspectionItem.category.in_(categories), InspectionItem.major_hazard_item.in_(items))))
    ev = union_all(of_cases(True), of_cases(False), failed).subquery()
    open_cases, last = func.sum(ev.c.open), func.max(ev.c.at)
    stmt = (select(Project.id, Project.jurisdiction_code, open_cases.label("open_cases"),
                   func.count().label("records"), last.label("last"))
            .join(ev, ev.c.pid == Project.id)
            .where(Project.jurisdiction_code.in_(codes), _statuses(policy.category_statuses))
            .group_by(Project.id, Project.jurisdiction_code)
            .order_by(open_cases.desc(), last.desc(), Project.id).limit(policy.category_max))
    skip = set(exclude) | ({case.project_id} if case.project_id else set())
    if skip:
        stmt = stmt.where(Project.id.not_in(sorted(skip)))
    return list(session.execute(stmt))


def propose(session: Session, case: Case, trigger: str, now: datetime) -> dict[str, Any]:
    """Insert the tasks for ``case`` (already updated by its transition); returns what was proposed."""
    policy = analog_policy()
    categories = categories_of(session, case, policy)
    enterprise = same_enterprise_projects(session, case, policy)
    by_category = same_category_projects(session, case, categories, now, policy, {pid for pid, _ in enterprise})
    if not enterprise and not by_category:
        return {"trigger": trigger, "proposed": 0, "categories": list(categories)}
    due_on, remind_at = due_dates(session, trigger, now, policy)
    category = categories[0] if categories else None
    rows = [dict(source_case_id=case.id, project_id=pid, jurisdiction_code=code, reason=SAME_ENTERPRISE,
                 category=category, trigger=trigger, rank=i, basis={"enterprise_id": case.enterprise_id})
            for i, (pid, code) in enumerate(enterprise, 1)]
    rows += [dict(source_case_id=case.id, project_id=r.id, jurisdiction_code=r.jurisdiction_code,
                  reason=SAME_CATEGORY, category=category, trigger=trigger, rank=len(enterprise) + i,
                  basis={"categories": list(categories), "open_cases": int(r.open_cases or 0), "records": int(r.records),
                         "last_record_at": r.last.isoformat() if isinstance(r.last, datetime) else (str(r.last) if r.last else None)})
             for i, r in enumerate(by_category, 1)]
    for row in rows:
        row.update(due_on=due_on, remind_at=remind_at, status="open", created_at=now)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = session.execute(insert(AnalogTask).values(rows)
                               .on_conflict_do_nothing(index_elements=["source_case_id", "project_id"])
                               .returning(AnalogTask.id, AnalogTask.reason)).all()
    return {"trigger": trigger, "proposed": len(inserted), "categories": list(categories), "due_on": due_on.isoformat(),
            SAME_ENTERPRISE: sum(1 for r in inserted if r.reason == SAME_ENTERPRISE),
            SAME_CATEGORY: sum(1 for r in inserted if r.reason == SAME_CATEGORY)}


def _on_transition(session: Session, ctx: ActionContext, event: CaseEvent) -> None:
    trigger = trigger_of(ctx)
    if trigger is None:
        return
    summary = propose(session, ctx.case, trigger, ctx.now)
    if summary["proposed"]:
        services.add_to_event_payload(event, analog_tasks=summary)


def _on_create(session: Session, case: Case, event: CaseEvent) -> None:
    """A case is created in its initial state (已发现 / 已快报): nothing is registered or graded yet."""


services.register_hooks("analogs", transition=_on_transition, creation=_on_create)
